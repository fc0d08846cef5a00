// The memory actuator: workloads that exist only in this process, for the simulator and tests.
// Latency and failures are configurable, so a scenario can make starting slow or a start fail. A
// workload's own spec can say so too: `startMs` (how long it takes to come up) and `healthy: false`
// (it never passes its health check: it stays 'starting'), so that a scenario can roll out a slow or a
// broken new version by changing the spec, as an operator would.

import type { WorkloadSpec } from '../core/index.ts'
import { systemClock, type Clock, type Timer } from '../clock.ts'
import type { Actuator, EnsureContext, ObservedWorkload } from './actuator.ts'

export interface MemoryActuatorOptions {
  /** How long a start or replace takes before the workload reports running. */
  readonly startLatencyMs?: number
  /** Called before each start; return an error message to make that start fail. */
  readonly failStart?: (resourceId: string) => string | undefined
  /** Where start latencies are timed (default: the system's clock). */
  readonly clock?: Clock
}

interface MemoryWorkload {
  specHash: string
  epoch?: number
  phase: 'starting' | 'running' | 'failed'
  restarts: number
  lastError?: string
  timer?: Timer
}

export class MemoryActuator implements Actuator {
  readonly kind = 'memory'
  private readonly workloads = new Map<string, MemoryWorkload>()
  /** Every start ever made, in order: lets tests count restarts and duplicates. */
  readonly starts: string[] = []

  constructor (private readonly options: MemoryActuatorOptions = {}) {}

  async observe (): Promise<ObservedWorkload[]> {
    return [...this.workloads.entries()].map(([resourceId, workload]) => ({
      resourceId,
      specHash: workload.specHash,
      phase: workload.phase,
      restarts: workload.restarts,
      ...(workload.lastError === undefined ? {} : { lastError: workload.lastError }),
      ...(workload.epoch === undefined ? {} : { epoch: workload.epoch }),
    }))
  }

  /** What runs now, read synchronously: for judges that sample the fleet from outside. */
  workloadsNow (): Array<{ resourceId: string, specHash: string, phase: MemoryWorkload['phase'], epoch?: number }> {
    return [...this.workloads.entries()].map(([resourceId, workload]) => ({
      resourceId, specHash: workload.specHash, phase: workload.phase, ...(workload.epoch === undefined ? {} : { epoch: workload.epoch }),
    }))
  }

  async ensure (resourceId: string, spec: WorkloadSpec, specHash: string, context: EnsureContext = {}): Promise<void> {
    const existing = this.workloads.get(resourceId)
    if (existing?.specHash === specHash && existing.phase !== 'failed') return
    existing?.timer?.cancel()
    this.starts.push(resourceId)
    const error = this.options.failStart?.(resourceId)
    const workload: MemoryWorkload = {
      specHash, phase: 'starting', restarts: existing === undefined ? 0 : existing.restarts + 1, ...(context.epoch === undefined ? {} : { epoch: context.epoch }),
    }
    this.workloads.set(resourceId, workload)
    if (error !== undefined) {
      workload.phase = 'failed'
      workload.lastError = error
      return
    }
    if (spec.healthy === false) return // starting, for good
    const latencyMs = typeof spec.startMs === 'number' ? spec.startMs : this.options.startLatencyMs ?? 0
    if (latencyMs <= 0) {
      workload.phase = 'running'
      return
    }
    await new Promise<void>((resolve) => {
      workload.timer = (this.options.clock ?? systemClock).setTimer(() => {
        workload.phase = 'running'
        resolve()
      }, latencyMs)
    })
  }

  async remove (resourceId: string): Promise<void> {
    this.workloads.get(resourceId)?.timer?.cancel()
    this.workloads.delete(resourceId)
  }

  /** Everything stops at once, as when the host dies. */
  crash (): void {
    for (const workload of this.workloads.values()) workload.timer?.cancel()
    this.workloads.clear()
  }
}
