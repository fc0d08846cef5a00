// Vitest configuration: the polyfill loads before every test file, so that libp2p (which calls
// Promise.withResolvers, missing on Node 20) can be imported by any test.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./src/polyfill.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
})
