/**
 * What one provider host process runs: which library, which instance it is, where NATS is,
 * and its limits. The supervisor validates it (BAD_SPEC, spec-check.ts) and hands it to the
 * host process over its IPC channel. This file stays free of zod on purpose: the host process
 * imports it, and zod alone costs each host ~8 MiB of heap (measured, docs/agent.md).
 */
import type { HealthSettings } from './health.js';
import type { NatsOptions } from './nats.js';

export interface HostLimits {
  /** Calls running at once before new ones get OVERLOADED (default 256). */
  maxInFlight?: number;
  /** Per-call deadline in ms; a caller's Gantry-Timeout-Ms can only shorten it (default 10000). */
  callTimeoutMs?: number;
  /** Largest request payload accepted, in bytes (default 1 MiB). */
  maxPayloadBytes?: number;
  /** Calls stuck past their deadline at once before the host exits to be restarted (default 3). */
  maxHungCalls?: number;
  /** Threads running handle_call (default 2); more helps providers whose calls block. */
  callThreads?: number;
  /** Provider → actor deliveries outstanding at once before the dispatcher says OVERLOADED (default 1024). */
  maxPendingDispatches?: number;
  /** How long a delivery to an actor waits for its reply (default 5000). */
  dispatchTimeoutMs?: number;
  /** How long an actor whose last delivery found no responders is refused with NO_ACTOR (default 1000). */
  unreachableActorMs?: number;
  /** On stop, how long running calls may finish before they are answered NOT_READY (default 5000). */
  stopGraceMs?: number;
}

export interface HostSpec {
  libraryPath: string;
  /**
   * The SHA-256 (hex) the signed claims vouch for. When given, the host loads only bytes that
   * hash to it, pinned in a sealed memfd (verified-library.ts); the agent always gives it.
   */
  librarySha256?: string;
  /**
   * The agent passes the verified library as a memfd sealed against write, grow and shrink on
   * the host's library channel (fd 4, verified-library.ts); the host loads that descriptor
   * (refusing unsealed memory: LIBRARY_NOT_SEALED) and never reads libraryPath.
   */
  librarySealed?: boolean;
  /** The archive's capid; the library's capability_id() must equal it. */
  expectedCapid?: string;
  namespace: string;
  provider: string;
  instance: string;
  linkName?: string;
  /** Handed to the provider's configure() as JSON. */
  config?: Record<string, unknown>;
  /** The keys of `config` whose values are secret (agent/secret-config.ts): no error message or log line of the host holds them. */
  secretKeys?: string[];
  nats: NatsOptions;
  limits?: HostLimits;
  /** How the provider's health extension is checked (health.ts); unused when the library has none. */
  health?: HealthSettings;
  /** How often the host publishes a LoadReport on its instance's load subject (client/load.ts), in ms (default 1000; 0: never). */
  loadReportMs?: number;
}

export const DEFAULT_LIMITS: Required<HostLimits> = {
  maxInFlight: 256,
  callTimeoutMs: 10_000,
  maxPayloadBytes: 1024 * 1024,
  maxHungCalls: 3,
  callThreads: 2,
  maxPendingDispatches: 1024,
  dispatchTimeoutMs: 5000,
  unreachableActorMs: 1000,
  stopGraceMs: Number(process.env.GANTRY_HOST_STOP_GRACE_MS ?? 5000),
};

export function effectiveLimits(spec: HostSpec): Required<HostLimits> {
  return { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(spec.limits ?? {}).filter(([, v]) => v !== undefined)) };
}
