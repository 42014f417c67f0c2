/**
 * The provider host: runs one provider instance's native library in its own supervised
 * process and serves it over NATS. The agent uses ProviderHost; callers use client/call.ts.
 *
 *   const host = new ProviderHost({ libraryPath, expectedCapid, namespace, provider, instance, nats: { servers } });
 *   host.on('crash', (c) => …);   // restarts itself with backoff
 *   await host.start();           // Ready, or HostError { code: 'CAPID_MISMATCH' | 'ABI_MISMATCH' | 'LOAD_FAILED' | … }
 *   await host.stop();
 */
export { ProviderHost, type HostState, type BackoffOptions, type ProviderHostOptions, type CrashInfo } from './supervisor.js';
export { HostError, HostErrorCodes, TERMINAL_CODES, type HostErrorCode } from './errors.js';
export { DEFAULT_LIMITS, type HostSpec, type HostLimits } from './spec.js';
export { checkHostSpec } from './spec-check.js';
export { connectError, connectNats, natsConnectionOptions, type NatsOptions } from './nats.js';
