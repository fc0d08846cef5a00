// The test harness's public surface (exported as `shoal/testing` once the package is published).
export * from './mesh.ts'
