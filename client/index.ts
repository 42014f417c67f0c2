/**
 * The caller's side of the Gantry protocol, for anything that calls providers over NATS (the
 * CLI, the sandbox, benchmarks, services) and for the provider host that answers: subjects and
 * headers (protocol.ts), `callProvider` and its `CallError` (call.ts), one way to connect
 * (nats.ts) and its `NatsConnectError`. It imports nothing of Gantry's: callers need only this.
 */
export * from './protocol.js';
export * from './call.js';
export * from './nats.js';
export * from './activation.js';
export * from './activate.js';
