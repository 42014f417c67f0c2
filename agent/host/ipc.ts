/**
 * Messages between the supervisor (ProviderHost, in the agent) and the host process it forks,
 * over Node's IPC channel. The parent sends the spec first; the child answers `ready` or
 * `error` once, and may later send `error` (e.g. HUNG) just before exiting.
 */
import type { CallsSnapshot } from './call-stats.js';
import type { HostSpec } from './spec.js';

/** `renew`: the creds file was rewritten; reconnect with it without dropping calls (main.ts renew). */
export type ToHost = { type: 'spec'; spec: HostSpec } | { type: 'stop' } | { type: 'renew' };

export type FromHost =
  /** sent once the process has loaded its code and waits for a spec (pooled hosts wait here) */
  | { type: 'idle' }
  /** `steps`: ms spent in each start step inside the host (load, configure, connect, dispatch, subscribe) */
  | { type: 'ready'; pid: number; capabilityId: string; name: string; subjects: string[]; steps?: Record<string, number> }
  | { type: 'error'; code: string; message: string }
  /** the provider's health changed: unhealthy, the host left its queue groups; healthy, it joined them again */
  | { type: 'health'; healthy: boolean; message: string }
  /** the host serves on a connection made with the renewed creds; the old one is drained and closed */
  | { type: 'renewed'; ms: number }
  | { type: 'renew-failed'; code: string; message: string }
  /** what the calls answered add up to since the host began counting (every second while serving, once more on drain) */
  | { type: 'calls'; stats: CallsSnapshot };
