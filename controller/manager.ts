/**
 * The controller manager (after controller-runtime's): it runs N reconcilers and decides
 * nothing itself. It wires
 *   - shared informers, one per resource (`informer()`), started on every replica, so a
 *     standby that takes over starts from warm caches;
 *   - one work queue per registered reconciler (runtime/toolkit/workqueue.ts: de-duplication,
 *     retries with backoff, never one key twice at once), run only while this replica holds
 *     the leader Lease (runtime/toolkit/leader.ts);
 *   - one resync timer that asks every reconciler to enqueue everything it keeps;
 *   - one stop: reconcilers' own timers stop, the queues drain (reconciles in progress finish),
 *     then the Lease is released and the informers stop.
 *
 * A reconciler declares its name, its queue's concurrency, which informer events enqueue which
 * keys (`watch`: handlers only update the caches the reconcile reads and enqueue keys), what to
 * enqueue on a resync, and `reconcile(key)`. Keys are typed (runtime/toolkit/keys.ts): a
 * namespaced object's `ObjectKey`, or a key without a namespace for something cluster-wide a
 * reconciler keeps (the membrane's account, the set of credential Secrets to sweep).
 *
 *   const m = new Manager({ client, log, election, resyncMs: 30_000 });
 *   m.register(grantsReconciler({ grants: m.informer('capabilitygrants', grantsPath()), … }));
 *   await m.startInformers(); m.lead(); … await m.stop();
 */
import { Informer, type KubeObject } from '../runtime/informer.js';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import { keyOf, parseKey, type ObjectKey } from '../runtime/toolkit/keys.js';
import { LeaderElector } from '../runtime/toolkit/leader.js';
import { WorkQueue, type WorkResult } from '../runtime/toolkit/workqueue.js';

/** A reconciler's queue as its event handlers and reconcile see it. */
export interface KeyQueue {
  /** Enqueues an object's key (or a key `keyOf` made), after `afterMs` when given. */
  add(key: ObjectKey | string | { metadata: { namespace?: string; name?: string } }, afterMs?: number): void;
  /** Keys waiting. */
  readonly depth: number;
}

export interface Reconciler {
  /** For logs, and `idle(name)`. */
  readonly name: string;
  /** Reconciles of this kind at once. */
  readonly concurrency: number;
  /** Subscribes to informer events (once, at registration); handlers only update caches and enqueue keys. */
  watch?(queue: KeyQueue): void;
  /** Enqueues everything this reconciler keeps: on becoming leader, and every resync. */
  resync(queue: KeyQueue): void;
  /** Makes the world match one key; a throw retries it with backoff, `requeueAfterMs` looks again then. */
  reconcile(key: ObjectKey, queue: KeyQueue): Promise<WorkResult | void>;
  /** A reconcile threw (it will be retried); default: a warning in the log. */
  failed?(key: string, err: unknown, attempt: number): void;
  /** Stops the reconciler's own timers; called before the queues drain. */
  stop?(): void;
}

export interface ManagerOptions {
  client: KubeClient;
  log: Logger;
  /** Informer watch timeout (runtime/informer.ts; default 60 s). */
  watchTimeoutSeconds?: number;
  /** The leader Lease (its namespace and name) and the client-go timings. */
  election: { namespace: string; name: string; identity: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  resyncMs: number;
  /** Leadership gained or lost. */
  onLeading?(leading: boolean): void;
}

interface Running {
  r: Reconciler;
  queue: WorkQueue;
  keys: KeyQueue;
}

export class Manager {
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly running: Running[] = [];
  private readonly elector: LeaderElector;
  private resync?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: ManagerOptions) {
    this.elector = new LeaderElector({
      client: o.client,
      ...o.election,
      log: o.log,
      onStartedLeading: () => {
        o.onLeading?.(true);
        for (const { r, queue, keys } of this.running) {
          queue.run((k) => r.reconcile(parseKey(k), keys));
          r.resync(keys);
        }
      },
      onStoppedLeading: () => {
        o.onLeading?.(false);
        for (const { queue } of this.running) queue.pause();
      },
    });
  }

  /** The shared informer of `path` (created on first use; every reconciler that names it shares it). */
  informer<T extends KubeObject>(name: string, path: string, extra: { pageSize?: number; labelSelector?: string } = {}): Informer<T> {
    let i = this.informers.get(name);
    if (!i)
      this.informers.set(
        name,
        (i = new Informer({ client: this.o.client, watchTimeoutSeconds: this.o.watchTimeoutSeconds, path, name, ...extra })),
      );
    return i as unknown as Informer<T>;
  }

  /** Adds a reconciler with its own queue; its handlers subscribe now, its reconciles run while leading. */
  register(r: Reconciler): void {
    const queue = new WorkQueue({
      concurrency: r.concurrency,
      onError: (key, err, attempt) =>
        r.failed
          ? r.failed(key, err, attempt)
          : this.o.log.warn({ reconciler: r.name, key, attempt, err: (err as Error).message }, 'reconcile failed; will retry'),
    });
    const keys: KeyQueue = {
      add: (key, afterMs) => {
        const k = typeof key === 'string' ? key : keyOf(key);
        if (afterMs) queue.addAfter(k, afterMs);
        else queue.add(k);
      },
      get depth() {
        return queue.depth;
      },
    };
    r.watch?.(keys);
    this.running.push({ r, queue, keys });
  }

  /** Starts every informer; resolves when each has listed once. */
  async startInformers(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.start()));
  }

  /** Every informer has listed once (/readyz). */
  synced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced);
  }

  async stopInformers(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  /** Campaigns for the leader Lease (reconcilers run while it is held) and starts the resync timer. */
  lead(): void {
    this.elector.start();
    this.resync = setInterval(() => {
      if (this.elector.isLeader()) for (const { r, keys } of this.running) r.resync(keys);
    }, this.o.resyncMs);
    this.resync.unref?.();
  }

  isLeader(): boolean {
    return this.elector.isLeader();
  }

  /** Resolves when no queue (or only `name`'s) has a key waiting or a reconcile running. */
  async idle(name?: string): Promise<void> {
    await Promise.all(this.running.filter(({ r }) => !name || r.name === name).map(({ queue }) => queue.idle()));
  }

  /**
   * Stops: the resync timer and the reconcilers' own timers, then the queues drain (reconciles in
   * progress finish), then `drained` runs, the Lease is released (unless `releaseLease: false`,
   * as a crash would leave it) and the informers stop.
   */
  async stop(o: { releaseLease?: boolean; drained?: () => Promise<void> | void } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.resync);
    for (const { r } of this.running) r.stop?.();
    for (const { queue } of this.running) queue.pause();
    await Promise.all(this.running.map(({ queue }) => queue.stop()));
    await o.drained?.();
    await this.elector.stop(o.releaseLease ?? true);
    await this.stopInformers();
  }
}
