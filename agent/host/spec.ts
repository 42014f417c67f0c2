/**
 * What one provider host process runs: which library, which instance it is, where NATS is,
 * and its limits. The supervisor hands this to the host process over its IPC channel; the
 * host validates it (BAD_SPEC) before touching the library.
 */
import { z } from 'zod';
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
  /** The archive's capid; the library's capability_id() must equal it. */
  expectedCapid?: string;
  namespace: string;
  provider: string;
  instance: string;
  linkName?: string;
  /** Handed to the provider's configure() as JSON. */
  config?: Record<string, unknown>;
  nats: NatsOptions;
  limits?: HostLimits;
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

const positive = z.number().int().positive();
const HostSpecSchema = z.object({
  libraryPath: z.string().min(1),
  librarySha256: z.string().regex(/^[0-9a-fA-F]{64}$/).optional(),
  expectedCapid: z.string().min(1).optional(),
  namespace: z.string().min(1),
  provider: z.string().min(1),
  instance: z.string().min(1),
  linkName: z.string().min(1).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  nats: z.object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    token: z.string().optional(),
    user: z.string().optional(),
    pass: z.string().optional(),
    nkeySeed: z.string().optional(),
    credsFile: z.string().optional(),
    tls: z.object({ caFile: z.string().optional(), certFile: z.string().optional(), keyFile: z.string().optional() }).optional(),
    name: z.string().optional(),
    connectTimeoutMs: z.number().int().positive().optional(),
  }),
  limits: z.object({
    maxInFlight: positive.optional(),
    callTimeoutMs: positive.optional(),
    maxPayloadBytes: positive.optional(),
    maxHungCalls: positive.optional(),
    callThreads: positive.max(64).optional(),
    stopGraceMs: positive.optional(),
    maxPendingDispatches: positive.optional(),
    dispatchTimeoutMs: positive.optional(),
    unreachableActorMs: positive.optional(),
  }).optional(),
});

/** Validate a spec; returns a list of problems (empty when valid). */
export function checkHostSpec(spec: unknown): string[] {
  const r = HostSpecSchema.safeParse(spec);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`);
}

export function effectiveLimits(spec: HostSpec): Required<HostLimits> {
  return { ...DEFAULT_LIMITS, ...Object.fromEntries(Object.entries(spec.limits ?? {}).filter(([, v]) => v !== undefined)) };
}
