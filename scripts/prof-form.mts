import { VirtualFleet } from '../sim/virtual/fleet.ts'
import { originationsQuietFor } from '../sim/fleet.ts'
const n = Number(process.argv[2] ?? 1000)
const t0 = performance.now()
const fleet = await VirtualFleet.start({ nodes: n, seed: 1, labels: (i) => ({ zone: String.fromCharCode(97 + (i % 3)) }) })
console.log('built', (performance.now() - t0).toFixed(0))
console.log('one component at', await fleet.waitUntil(() => fleet.components().length === 1, 60000, { pollMs: 20 }), 'virtual ms;', (performance.now() - t0).toFixed(0), 'wall ms', fleet.events(), 'events')
console.log('quiet at', await fleet.waitUntil(originationsQuietFor(fleet, 2000), 120000, { pollMs: 50 }), (performance.now() - t0).toFixed(0), 'wall ms', fleet.events(), 'events')
await fleet.stop()
