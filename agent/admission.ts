/**
 * The agent's cap on the instances it runs (`gantry agent --max-instances N`): every provider
 * host is a process of its own (~63 MB RSS), so without a cap one Provider scaled up could
 * drive a node out of memory. Which instances run is decided the same way every time: the
 * ones already running keep their place (a running instance is never stopped to make room for
 * a newer one), and the free places go to the waiting instances oldest first (creation time,
 * then namespace/name). The others wait, Pending with reason `InstanceLimit`, and start when a
 * place frees up; the controller, which reads the cap from the agent's Lease, moves them to a
 * node with room when there is one.
 */
import { totalmem } from 'node:os';

/** What one provider host costs, rounded up from the ~63 MB RSS measured (bench/coldstart/density.ts). */
export const HOST_MEMORY_BYTES = 64 * 1024 * 1024;
/** The largest cap accepted (a typo such as 1000000 is a usage error, not "no cap"). */
export const MAX_INSTANCES_LIMIT = 10_000;
/** The default never goes below this, so a small node still serves a few instances. */
export const MIN_DEFAULT_MAX_INSTANCES = 8;

/**
 * The default cap for a node with `memoryBytes` of memory: half of it for provider hosts at
 * 64 MiB each (the other half left to the node's own work), at least 8.
 */
export function defaultMaxInstances(memoryBytes: number): number {
  return Math.max(MIN_DEFAULT_MAX_INSTANCES, Math.floor(memoryBytes / 2 / HOST_MEMORY_BYTES));
}

/**
 * This node's memory: the cgroup's limit when there is one (a container), else the machine's.
 * Node.js reports "no limit" as 0 or as a huge number, so the smaller of the two is taken.
 */
export function nodeMemoryBytes(limit = process.constrainedMemory(), total = totalmem()): number {
  return limit > 0 ? Math.min(limit, total) : total;
}

/** An instance bound to this node that has no runner yet. */
export interface Waiting {
  /** `namespace/name` */
  key: string;
  /** metadata.creationTimestamp (RFC 3339, so it orders as a string) */
  createdAt: string;
}

export interface AdmissionInput {
  /** The cap. */
  max: number;
  /** Instances this agent runs now (they keep their places). */
  running: number;
  /** Every instance waiting for a place, this one included. */
  waiting: readonly Waiting[];
}

const oldestFirst = (a: Waiting, b: Waiting) => a.createdAt.localeCompare(b.createdAt) || a.key.localeCompare(b.key);

/**
 * Undefined when `key` may start now; otherwise why not, naming the cap and the count (the
 * instance's status message).
 */
export function refusal(key: string, o: AdmissionInput): string | undefined {
  const free = o.max - o.running;
  const place = [...o.waiting].sort(oldestFirst).findIndex((w) => w.key === key);
  if (place >= 0 && place < free) return undefined;
  const inLine = place < 0 ? o.waiting.length : place - Math.max(0, free);
  // the places go to the running and to older waiting instances: all of them (more, if the cap was lowered)
  const taken = Math.max(o.running, o.max);
  return (
    `instance limit reached: this node's agent runs at most ${o.max} instances (--max-instances ${o.max}) ` +
    `and ${taken} are taken by running or older instances; this one is number ${inLine + 1} in line (oldest first) ` +
    'and starts when one stops'
  );
}
