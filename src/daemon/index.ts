// The daemon's building blocks: the reconciler loop (shared with the simulator) and the data store.
export * from './reconciler.ts'
export * from './store.ts'
