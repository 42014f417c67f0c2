/**
 * The full check of a HostSpec, run by the supervisor (agent side) before a host process is
 * forked or claimed from the pool. The host process itself only re-checks the few fields it
 * dereferences (main.ts): the spec reaches it only from its parent over the IPC channel, and
 * loading zod there would cost every host ~8 MiB of heap.
 */
import { z } from 'zod';

const positive = z.number().int().positive();
const HostSpecSchema = z.object({
  libraryPath: z.string().min(1),
  librarySha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/)
    .optional(),
  librarySealed: z.boolean().optional(),
  expectedCapid: z.string().min(1).optional(),
  namespace: z.string().min(1),
  provider: z.string().min(1),
  instance: z.string().min(1),
  linkName: z.string().min(1).optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  secretKeys: z.array(z.string().min(1)).optional(),
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
  limits: z
    .object({
      maxInFlight: positive.optional(),
      callTimeoutMs: positive.optional(),
      maxPayloadBytes: positive.optional(),
      maxHungCalls: positive.optional(),
      callThreads: positive.max(64).optional(),
      stopGraceMs: positive.optional(),
      maxPendingDispatches: positive.optional(),
      dispatchTimeoutMs: positive.optional(),
      unreachableActorMs: positive.optional(),
    })
    .optional(),
  loadReportMs: z.number().int().nonnegative().optional(),
  // seconds; fractions allowed here (tests), the Provider API takes whole seconds
  health: z
    .object({
      periodSeconds: z.number().positive().optional(),
      timeoutSeconds: z.number().positive().optional(),
      failureThreshold: positive.optional(),
    })
    .strict()
    .optional(),
});

/** Validate a spec; returns a list of problems (empty when valid). */
export function checkHostSpec(spec: unknown): string[] {
  const r = HostSpecSchema.safeParse(spec);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`);
}
