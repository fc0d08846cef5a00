// Runs once before the suite: the end-to-end tests start the compiled CLI (test/fixtures/build.ts).
import { ensureBuilt } from './fixtures/build.ts'

export default function setup (): void {
  ensureBuilt()
}
