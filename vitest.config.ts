// Vitest configuration: the polyfill loads before every test file, so that libp2p (which calls
// Promise.withResolvers, missing on Node 20) can be imported by any test. `shoal/testing` resolves to
// the TypeScript sources (package.json's `shoal-source` condition), so tests never run a stale build.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: { conditions: ['shoal-source'] },
  ssr: { resolve: { conditions: ['shoal-source'], externalConditions: ['shoal-source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./src/polyfill.ts'],
    globalSetup: ['./test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
