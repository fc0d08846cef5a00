// The test harness's public surface (to be exported as `shoal/testing`).
export * from './mesh.ts'
export * from './fleet.ts'
export * from './lab.ts'
export * from './nemesis.ts'
export * from './processes.ts'
