/**
 * The agent's one reconciler, level-triggered in the controller-runtime manner: informer
 * events only enqueue an instance key; `reconcile(key)` reads the desired object from the
 * informer cache and the running state from its own runner table and makes them agree.
 *
 *   desired, bound to this node, not deleting, no runner     → start a runner
 *   runner whose instance is gone, deleting, or re-created   → stop it (gracefully)
 *   (a re-created instance has a new uid: stop the old runner, then start a new one)
 *   desired, but the agent runs `maxInstances` already        → Pending, InstanceLimit (admission.ts);
 *                                                               retried whenever a runner goes
 *
 * Keys go through the shared work queue (runtime/toolkit/workqueue.ts): a missed or duplicated
 * event is harmless, work for one key is serialised (a key enqueued while it is being
 * reconciled runs again afterwards), keys run concurrently with each other, a reconcile that
 * throws is retried with backoff, and a periodic resync re-enqueues every key.
 */
import type { ProviderInstance } from '../api/index.js';
import type { Logger } from '../runtime/log.js';
import { keyOf, parseNamespacedKey } from '../runtime/toolkit/keys.js';
import { WorkQueue } from '../runtime/toolkit/workqueue.js';
import { transition, type Condition } from '../runtime/toolkit/conditions.js';
import { refusal } from './admission.js';
import { InstanceRunner, type RunnerDeps } from './instance-runner.js';
import type { InstancePhase, InstanceRef } from './status.js';

export interface ReconcilerOptions {
  node: string;
  /** The desired state: the informer cache. */
  get(namespace: string, name: string): ProviderInstance | undefined;
  list(): ProviderInstance[];
  runnerDeps: RunnerDeps;
  /** At most this many runners at once (`--max-instances`); none when absent. */
  maxInstances?: number;
  log: Logger;
  resyncMs?: number;
  /** Backoff of a reconcile that threw (the work queue's defaults: 200 ms doubling to 60 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/** An instance's queue key, `namespace/name` (an instance without a namespace is in `default`). */
export function instanceKey(o: { metadata: { namespace?: string; name: string } }): string {
  return keyOf({ namespace: o.metadata.namespace ?? 'default', name: o.metadata.name });
}

export class InstanceReconciler {
  private readonly table = new Map<string, InstanceRunner>();
  /** Instances refused for the cap: reconciled again whenever a runner goes. */
  private readonly refused = new Map<string, InstanceRef>();
  private readonly queue: WorkQueue;
  private resyncTimer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: ReconcilerOptions) {
    this.queue = new WorkQueue({
      // one reconcile stops a host gracefully, which takes as long as the host drains: every
      // instance gets its own turn at once rather than waiting behind others' stops
      concurrency: Number.POSITIVE_INFINITY,
      backoffBaseMs: o.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs,
      onError: (key, err, attempt) => o.log.error({ err: (err as Error).message, instance: key, attempt }, 'reconcile failed'),
    });
  }

  /** The runners by instance key (diagnostics, metrics). */
  get runners(): ReadonlyMap<string, InstanceRunner> {
    return this.table;
  }

  /** The phase of every instance this agent runs (the instances gauge, counted at scrape time). */
  phases(): InstancePhase[] {
    return [...this.table.values()].map((r) => r.currentPhase);
  }

  /** Starts working the queue: every instance in the cache now, then every `resyncMs` (30 s). */
  start(): void {
    this.queue.run((key) => this.reconcile(key));
    for (const i of this.o.list()) this.enqueue(instanceKey(i));
    this.resyncTimer = setInterval(() => this.resync(), this.o.resyncMs ?? 30_000);
    this.resyncTimer.unref?.();
  }

  resync(): void {
    const keys = new Set([...this.o.list().map(instanceKey), ...this.table.keys()]);
    for (const k of keys) this.enqueue(k);
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Resolves when no key is waiting or being reconciled (keys waiting out a backoff do not count). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async reconcile(key: string): Promise<void> {
    const { namespace, name } = parseNamespacedKey(key);
    const desired = this.o.get(namespace, name);
    const shouldRun = !!desired && this.shouldRun(desired);
    const runner = this.table.get(key);
    if (runner && (!shouldRun || runner.ref.uid !== desired?.metadata.uid)) await this.stopRunner(key, runner, desired);
    const wasRefused = this.refused.get(key);
    if (wasRefused && (!shouldRun || wasRefused.uid !== desired?.metadata.uid)) {
      this.refused.delete(key);
      this.o.runnerDeps.status.forget(wasRefused);
    }
    // no await from the admission check to the runner's start: two keys cannot take one place
    if (shouldRun && !this.table.has(key) && !this.stopped && this.admitted(key, desired)) this.startRunner(key, desired);
  }

  private shouldRun(i: ProviderInstance): boolean {
    return !i.metadata.deletionTimestamp && i.spec?.nodeName === this.o.node;
  }

  /** Whether `key` may take a place under the cap; a refused one is told why in its status. */
  private admitted(key: string, desired: ProviderInstance): boolean {
    const max = this.o.maxInstances;
    if (max === undefined) return true;
    const waiting = this.o
      .list()
      .filter((i) => this.shouldRun(i) && !this.table.has(instanceKey(i)))
      .map((i) => ({ key: instanceKey(i), createdAt: i.metadata.creationTimestamp ?? '' }));
    const why = refusal(key, { max, running: this.table.size, waiting });
    if (why === undefined) {
      this.refused.delete(key);
      return true;
    }
    const m = desired.metadata;
    const ref = { namespace: m.namespace ?? 'default', name: m.name, uid: m.uid ?? '' };
    if (!this.refused.has(key)) this.o.log.warn({ instance: key, maxInstances: max }, 'instance limit reached; instance waits');
    this.refused.set(key, ref);
    void this.reportRefused(ref, desired, why);
    return false;
  }

  private reportRefused(ref: InstanceRef, i: ProviderInstance, message: string): Promise<void> {
    const gen = i.metadata.generation !== undefined ? { observedGeneration: i.metadata.generation } : {};
    const condition = { type: 'Ready', status: 'False', reason: 'InstanceLimit', message, ...gen } as const;
    const conditions: Condition[] = [transition((i.status?.conditions as Condition[] | undefined) ?? [], condition)];
    return this.o.runnerDeps.status.write(ref, {
      phase: 'Pending',
      reason: 'InstanceLimit',
      message,
      restartCount: i.status?.restartCount ?? 0,
      ...gen,
      conditions,
    });
  }

  private startRunner(key: string, desired: ProviderInstance): void {
    this.o.log.info({ instance: key, uid: desired.metadata.uid }, 'starting instance');
    const r = new InstanceRunner(desired, this.o.runnerDeps);
    this.table.set(key, r);
    r.start();
  }

  /** `desired` is what the cache holds under the runner's key: its own instance being deleted, a successor, or nothing. */
  private async stopRunner(key: string, runner: InstanceRunner, desired: ProviderInstance | undefined): Promise<void> {
    const deleting = !!desired && !!desired.metadata.deletionTimestamp && desired.metadata.uid === runner.ref.uid;
    this.o.log.info({ instance: key, deleting }, 'stopping instance');
    await runner.stop(deleting ? 'deleting' : 'gone');
    this.table.delete(key);
    this.o.runnerDeps.status.forget(runner.ref);
    this.o.runnerDeps.credentials?.forget(runner.ref);
    // a place is free: the waiting instances compete for it again (oldest first)
    for (const k of this.refused.keys()) this.enqueue(k);
  }

  /**
   * The drain: stop taking keys, let the reconciles in progress finish, then stop every host
   * gracefully (in parallel).
   */
  /** `detaching`: the hosts live in a host keeper and stay; their status is left as it is. */
  async stop(detaching = false): Promise<void> {
    this.stopped = true;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    await this.queue.stop();
    await Promise.allSettled([...this.table.values()].map((r) => r.stop(detaching ? 'agent-detaching' : 'agent-stopping')));
    this.table.clear();
  }
}
