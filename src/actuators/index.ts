// Actuators: the only code that changes the local world.
export * from './actuator.ts'
export * from './memory.ts'
export * from './file.ts'
export * from './process.ts'
