/**
 * Reporting an instance's state through its `/status` subresource. Writes are RFC 7386
 * merge patches (strategic merge is 415 for custom resources), and `conditions` is always
 * sent whole because a merge patch replaces arrays.
 *
 * One writer per instance coalesces: while a patch is in flight only the newest desired
 * status waits behind it, so a burst of phase changes costs at most two requests and the
 * last word always wins. A vanished instance (404) ends the writer quietly; other failures
 * are retried with a short, capped backoff until a newer status supersedes them.
 */
import { isNotFound, type KubeClient, resourcePath } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import type { Condition } from '../runtime/toolkit/conditions.js';
import { keyOf } from '../runtime/toolkit/keys.js';
import { group, version } from '../api/index.js';

export type InstancePhase = 'Pending' | 'Fetching' | 'Verifying' | 'Starting' | 'Running' | 'Failed' | 'Terminating';

export type { Condition };

export interface InstanceStatus {
  phase: InstancePhase;
  reason?: string;
  message?: string;
  restartCount: number;
  observedGeneration?: number;
  conditions: Condition[];
}

export interface InstanceRef {
  namespace: string;
  name: string;
  uid: string;
}

export function instanceStatusPath(ref: { namespace: string; name: string }): string {
  return resourcePath({
    group,
    version,
    plural: 'providerinstances',
    namespace: ref.namespace,
    name: ref.name,
    subresource: 'status',
  });
}

/** One writer per instance object: a successor with the same name has a slot of its own. */
const slotKey = (ref: InstanceRef) => `${keyOf(ref)}/${ref.uid}`;

interface Slot {
  pending?: Record<string, unknown>;
  running?: Promise<void>;
  last?: string;
}

export class StatusWriter {
  private readonly slots = new Map<string, Slot>();
  private closed = false;

  constructor(
    private readonly kube: KubeClient,
    private readonly log: Logger,
  ) {}

  /** Queue `status` for the instance; resolves when it (or a newer one) has been written or given up. */
  write(ref: InstanceRef, status: Record<string, unknown>): Promise<void> {
    const key = slotKey(ref);
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = {}));
    const body = JSON.stringify(status);
    if (!slot.running && slot.last === body) return Promise.resolve();
    slot.pending = status;
    if (slot.running) return slot.running;
    const s = slot;
    const run = this.drain(ref, s).finally(() => {
      s.running = undefined;
    });
    s.running = run;
    return run;
  }

  /** Forget an instance (after it is gone). */
  forget(ref: InstanceRef): void {
    this.slots.delete(slotKey(ref));
  }

  private async drain(ref: InstanceRef, slot: Slot): Promise<void> {
    let failures = 0;
    for (let round = 0; round < 1_000 && slot.pending && !this.closed; round++) {
      const status = slot.pending;
      const body = JSON.stringify(status);
      if (body === slot.last) {
        slot.pending = undefined;
        break;
      }
      try {
        // the uid precondition keeps a status meant for a deleted instance off its same-named successor
        await this.kube.mergePatch(instanceStatusPath(ref), { metadata: { uid: ref.uid }, status });
        slot.last = body;
        failures = 0;
        if (slot.pending === status) slot.pending = undefined;
      } catch (err) {
        if (isNotFound(err) || (err as { code?: number }).code === 409) {
          slot.pending = undefined;
          return;
        }
        failures++;
        this.log.warn({ err: (err as Error).message, instance: keyOf(ref), failures }, 'status write failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5_000, 200 * 2 ** Math.min(failures, 5))));
      }
    }
  }

  /** Wait for queued writes (bounded), then refuse new ones. */
  async close(timeoutMs = 3_000): Promise<void> {
    const all = [...this.slots.values()].map((s) => s.running).filter(Boolean);
    await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, timeoutMs))]);
    this.closed = true;
  }
}
