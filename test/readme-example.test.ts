// The vitest example from the README, kept here so that it keeps working: a user's own test that
// injects a partition through `shoal/testing` (the package's export, resolved by self-reference).

import { expect, it } from 'vitest'
import { components, converged, heal, partition, runningResources, startFleet, stopFleet, waitFor } from 'shoal/testing'

it('my service keeps running on both sides of a split', async () => {
  const fleet = await startFleet(6, (i) => ({ zone: `z${i % 2}` }))
  try {
    const { envelope } = await fleet.mesh.operator.sign({
      kind: 'Service', name: 'web', replicas: 2, selector: {}, slots: 1, workload: { kind: 'memory' },
    })
    await fleet.mesh.nodes[0]!.publish(envelope)
    await waitFor('converged', () => converged(fleet), 20_000)

    const [left, right] = [fleet.mesh.nodes.slice(0, 3), fleet.mesh.nodes.slice(3)]
    await partition([left, right])
    await waitFor('each side converged', () => components(fleet).length === 2 && converged(fleet), 20_000)
    expect(runningResources(fleet, [0, 1, 2]).filter((id) => id.startsWith('web@'))).toHaveLength(2)
    expect(runningResources(fleet, [3, 4, 5]).filter((id) => id.startsWith('web@'))).toHaveLength(2)

    heal(fleet.mesh.nodes)
    await waitFor('one fleet again', () => components(fleet).length === 1 && converged(fleet), 20_000)
    expect(runningResources(fleet).filter((id) => id.startsWith('web@'))).toHaveLength(2)
  } finally {
    await stopFleet(fleet)
  }
})
