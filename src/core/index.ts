// The pure core's public surface. Everything here is deterministic: no I/O, no clock, no randomness;
// time and randomness arrive as arguments. Adapters (net, daemon, simulator) import from this file only.

export * from './hash.ts'
export * from './hlc.ts'
export * from './records.ts'
export * from './recorddb.ts'
export * from './reachability.ts'
export * from './quorum.ts'
export * from './placement.ts'
export * from './planner.ts'
export * from './rollout.ts'
export * from './convergence.ts'
export * from './throttle.ts'
export * from './arrival-limit.ts'
