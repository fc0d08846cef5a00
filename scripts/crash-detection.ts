// Diagnostic (issue 25, calibration): in the libp2p engine, how long after a crash its peers' connections
// close, and how long until the crashed node is out of every live node's component.
//
//   npx tsx scripts/crash-detection.ts [--nodes 20] [--crashes 3]
//
// One fleet at rest; crashes nodes one at a time, 2 s apart (src/testing's crashNode: the reconciler,
// the actuator, then the libp2p node stopped).

import { parseArgs } from 'node:util'
import '../src/polyfill.ts'
import { components, converged, crashNode, liveNodes, startFleet, stopFleet, waitFor, waitForFleet } from '../src/testing/index.ts'

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '20' }, crashes: { type: 'string', default: '3' } } })
const count = Number(values.nodes)
const fleet = await startFleet(count, (i) => ({ zone: `zone-${i % 3}` }))
try {
  await waitForFleet(fleet, 'one component', () => components(fleet).length === 1 && converged(fleet), 120_000)
  await new Promise((resolve) => setTimeout(resolve, 2_000))
  for (let k = 0; k < Number(values.crashes); k++) {
    const victim = Math.floor(((k + 0.5) * count) / Number(values.crashes))
    const peerId = fleet.mesh.nodes[victim]!.peerId
    const start = performance.now()
    await crashNode(fleet, victim)
    const crashedMs = performance.now() - start
    const closedMs = await waitFor('connections closed', () => liveNodes(fleet).every((node) => !node.connectedPeers().includes(peerId)), 10_000, 1)
    const goneMs = await waitFor('out of every component', () => liveNodes(fleet).every((node) => !node.component().has(peerId)), 10_000, 1)
    process.stdout.write(`node ${victim}: crashNode ${crashedMs.toFixed(0)} ms; peers' connections closed ${closedMs.toFixed(0)} ms later; out of every component ${goneMs.toFixed(0)} ms after that\n`)
    await new Promise((resolve) => setTimeout(resolve, 2_000))
  }
} finally {
  await stopFleet(fleet)
}
