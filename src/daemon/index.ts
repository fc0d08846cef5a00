// The daemon's building blocks. For now: the reconciler loop shared with the simulator.
export * from './reconciler.ts'
