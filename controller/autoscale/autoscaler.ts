/**
 * The autoscaler (docs/autoscaling.md): a reconciler of Providers with spec.autoscale, run by the
 * manager only while this controller leads. Each Provider is looked at every `intervalMs`
 * (--autoscale-interval): its figures from the LoadStore (fed from the bus, bus.ts), a decision
 * (decide.ts), then status.autoscale + the `Autoscaling` condition and spec.replicas through
 * the scale subresource (writes.ts). It is also the Activator the activation responder calls:
 * 0→1 at once, the idle clock restarted.
 *
 *   const a = new Autoscaler({ informers: m, client, log, events, store, intervalMs: 1000 });
 *   m.register(a); await a.activate('ns', 'echo', callerKey);
 */
import { Autoscale, autoscaleDefaults, type Provider } from '../../api/provider.js';
import type { KubeClient } from '../../runtime/kube.js';
import type { Logger } from '../../runtime/log.js';
import { keyOf, type ObjectKey, parseKey } from '../../runtime/toolkit/keys.js';
import type { WorkResult } from '../../runtime/toolkit/workqueue.js';
import type { EventRecorder } from '../events.js';
import { instanceInformer, providerInformer, type InformerSource } from '../informers.js';
import type { KeyQueue, Reconciler } from '../manager.js';
import type { ActivateOutcome, Activator } from './contract.js';
import { Decider, type Decision } from './decide.js';
import type { LoadStore } from './load-store.js';
import { writeReplicas, writeStatus, type WriteDeps } from './writes.js';

export interface AutoscalerDeps {
  informers: InformerSource;
  client: KubeClient;
  log: Logger;
  events: EventRecorder;
  store: LoadStore;
  /** How often each autoscaled Provider is decided on (--autoscale-interval, default 1 s). */
  intervalMs: number;
  /** False when the controller has no bus connection: no figures, so no decisions (NoFigures says why). */
  figuresAvailable: boolean;
  /** Whether this controller leads (activation acts only then). */
  isLeader(): boolean;
  /** Counts a replicas change by reason (ControllerMetrics.autoscaleScales). */
  scaled?(reason: string): void;
  now?(): number;
}

/** status.autoscale's figures are rewritten at most this often when nothing else changed. */
const FIGURES_REFRESH_MS = 10_000;
/** A scale written is taken as current for this long while the cache has not seen it yet. */
const PENDING_MS = 5_000;

interface State {
  decider: Decider;
  /** The replicas this controller last wrote, until the cache shows them. */
  pending?: { replicas: number; at: number };
  statusAt: number;
}

export class Autoscaler implements Reconciler, Activator {
  readonly name = 'autoscale';
  readonly concurrency = 4;
  private readonly states = new Map<string, State>();
  /** One decision or activation per Provider at a time. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly providers;
  private readonly instances;
  private readonly writes: WriteDeps;
  private readonly now: () => number;

  constructor(private readonly d: AutoscalerDeps) {
    this.providers = providerInformer(d.informers);
    this.instances = instanceInformer(d.informers);
    this.now = d.now ?? Date.now;
    this.writes = { client: d.client, events: d.events, scaled: (r) => d.scaled?.(r) };
  }

  watch(q: KeyQueue): void {
    this.providers.addHandler({
      add: (p) => {
        if (p.spec?.autoscale) q.add(p);
      },
      // a new or changed spec.autoscale is looked at now; the rest of the time the interval paces it
      update: (p, old) => {
        if (p.spec?.autoscale && JSON.stringify(p.spec.autoscale) !== JSON.stringify(old.spec?.autoscale)) q.add(p);
      },
      delete: (p) => this.forget(parseKey(keyOf(p))),
    });
  }

  resync(q: KeyQueue): void {
    this.d.store.sweep(this.now());
    for (const p of this.providers.list()) if (p.spec?.autoscale) q.add(p);
  }

  async reconcile(key: ObjectKey): Promise<WorkResult | void> {
    return this.locked(keyOf(key), () => this.tick(key));
  }

  /** Activator (contract.ts): 0→1 now with reason Activated; the idle clock restarts. */
  async activate(namespace: string, provider: string, caller: string): Promise<ActivateOutcome> {
    const p = this.providers.get(provider, namespace);
    if (!p) return { ok: false, code: 'NOT_FOUND', message: `Provider ${namespace}/${provider} does not exist` };
    if (!p.spec.autoscale)
      return { ok: false, code: 'NOT_ACTIVATABLE', message: `Provider ${namespace}/${provider} has no spec.autoscale` };
    if (p.spec.paused) return { ok: false, code: 'NOT_ACTIVATABLE', message: `Provider ${namespace}/${provider} is paused` };
    if (!this.d.isLeader()) return { ok: false, code: 'ACTIVATION_FAILED', message: 'this controller is not the leader' };
    const key = `${namespace}/${provider}`;
    return this.locked(key, async (): Promise<ActivateOutcome> => {
      const live = this.providers.get(provider, namespace) ?? p;
      const state = this.state(key);
      const current = this.current(state, live);
      const decision = state.decider.activate(current, caller, this.now());
      if (!decision) return { ok: true, provider };
      if (!(await this.apply(live, state, decision, this.d.store.figures(namespace, provider, this.now()))))
        return { ok: false, code: 'ACTIVATION_FAILED', message: `spec.replicas of ${key} could not be written (see its events)` };
      return { ok: true, provider };
    });
  }

  private async tick(key: ObjectKey): Promise<WorkResult | void> {
    const p = this.providers.get(key.name, key.namespace);
    const k = keyOf(key);
    const ns = key.namespace ?? '';
    if (!p?.spec?.autoscale || p.metadata.deletionTimestamp) return this.forget(key);
    const spec = Autoscale.safeParse(p.spec.autoscale);
    if (!spec.success || p.spec.mode === 'Daemon') {
      const message = spec.success
        ? 'spec.autoscale needs mode Spread (a Daemon runs one instance per node)'
        : spec.error.issues.map((i) => i.message).join('; ');
      await writeStatus(this.writes, p, { reason: 'InvalidSpec', message }, false);
      return { requeueAfterMs: this.d.intervalMs };
    }
    if (!this.d.figuresAvailable) {
      const message = 'the controller reads no load reports: start it with the membrane or --nats URL';
      await writeStatus(this.writes, p, { reason: 'NoFigures', message }, false);
      return { requeueAfterMs: this.d.intervalMs };
    }
    const state = this.state(k);
    const now = this.now();
    const names = new Set(
      this.instances
        .list(ns)
        .filter((i) => i.spec.provider === key.name)
        .map((i) => i.metadata.name),
    );
    this.d.store.retain(ns, key.name, names);
    const figures = this.d.store.figures(ns, key.name, now);
    const decision = state.decider.decide(autoscaleDefaults(spec.data), this.current(state, p), figures, now);
    await this.apply(p, state, decision, figures);
    return { requeueAfterMs: this.d.intervalMs };
  }

  /** Status first (what the owner rule lets replicas become), then replicas; true when both went through. */
  private async apply(p: Provider, state: State, decision: Decision, figures: ReturnType<LoadStore['figures']>): Promise<boolean> {
    const now = this.now();
    const current = this.current(state, p);
    const changes = decision.desired !== current;
    await writeStatus(
      this.writes,
      p,
      { ...decision, figures, ...(changes ? { scaledAt: now } : {}) },
      now - state.statusAt >= FIGURES_REFRESH_MS,
    ).then(() => {
      state.statusAt = now;
    });
    if (!changes && (p.spec.replicas ?? 1) === decision.desired) return true;
    const ok = await writeReplicas(this.writes, p, decision);
    if (ok) state.pending = { replicas: decision.desired, at: now };
    else await writeStatus(this.writes, p, { ...decision, reason: 'ScaleRefused', figures }, true);
    return ok;
  }

  /** spec.replicas as this controller last wrote it, while the cache lags behind. */
  private current(state: State, p: Provider): number {
    const cached = p.spec.replicas ?? 1;
    const pending = state.pending;
    if (pending && pending.replicas !== cached && this.now() - pending.at < PENDING_MS) return pending.replicas;
    state.pending = undefined;
    return cached;
  }

  private state(key: string): State {
    let s = this.states.get(key);
    if (!s) this.states.set(key, (s = { decider: new Decider(this.now()), statusAt: 0 }));
    return s;
  }

  private forget(key: ObjectKey): void {
    this.states.delete(keyOf(key));
    this.d.store.forget(key.namespace ?? '', key.name);
  }

  private locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return run;
  }
}
