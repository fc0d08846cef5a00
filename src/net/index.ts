// The network layer's public surface: the only folder that imports libp2p.
export * from './codec.ts'
export * from './config.ts'
export * from './keys.ts'
export * from './mesh-node.ts'
export * from './operator.ts'
export { StreamTimeoutError } from './framed-stream.ts'
export { SyncProtocolError } from './sync.ts'
