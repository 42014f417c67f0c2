/**
 * What the dashboard watches, with the user's own credentials: Providers, ProviderInstances,
 * Nodes and CapabilityGrants (informers, runtime/informer.ts, as the controller's), and the
 * agents' call metrics (scraped every `scrapeIntervalMs`). A part the user may not read is
 * probed again every `retryMs` and shown as `unavailable` meanwhile (reason Forbidden with the
 * API server's own message); the rest keeps showing. `onChange` fires on every change.
 */
import { Informer, type KubeObject } from '../runtime/informer.js';
import { KubeApiError, type KubeClient } from '../runtime/kube.js';
import { logger } from '../runtime/log.js';
import { callFigures, type Scrape } from './calls.js';
import type { MetricsTargets } from './metrics-targets.js';
import type { CallFigures, DashboardPart, DashboardState } from './model.js';
import { parsePrometheusText } from './prometheus.js';
import { type AnyObject, buildState, type Loose } from './state.js';

export interface SourceOptions {
  kube: KubeClient;
  /** Only this namespace's Providers, instances and grants (default: all namespaces). */
  namespace?: string;
  metrics: MetricsTargets;
  onChange: () => void;
  scrapeIntervalMs?: number;
  retryMs?: number;
}

type WatchedPart = Exclude<DashboardPart, 'metrics'>;
type Unavailable = DashboardState['unavailable'][number];

function collectionPath(part: WatchedPart, namespace?: string): string {
  if (part === 'nodes') return '/api/v1/nodes';
  const plural = { providers: 'providers', instances: 'providerinstances', grants: 'capabilitygrants' }[part];
  return `/apis/gantry.dev/v1alpha1${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${plural}`;
}

/** How a failed read shows: Forbidden/NotFound/… with the API server's message. */
export function unavailableFrom(part: DashboardPart, err: unknown): Unavailable {
  if (err instanceof KubeApiError) {
    const reason = err.code === 403 ? 'Forbidden' : err.code === 404 ? 'NotFound' : err.reason || 'Error';
    const message = (err.status as Loose)?.message ?? err.message;
    return { part, reason, message: String(message) };
  }
  return { part, reason: 'Error', message: (err as Error)?.message ?? String(err) };
}

export class ClusterSource {
  private readonly informers = new Map<WatchedPart, Informer<KubeObject>>();
  private readonly unavailable = new Map<DashboardPart, Unavailable>();
  private readonly oom = new Map<string, { at: string; count: number }>();
  private calls?: Map<string, CallFigures>;
  private lastScrape?: Scrape;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly log = logger('dashboard');

  constructor(private readonly o: SourceOptions) {}

  async start(): Promise<void> {
    const parts: WatchedPart[] = ['providers', 'instances', 'nodes', 'grants'];
    await Promise.all(parts.map((p) => this.watch(p)));
    await this.scrape();
    this.every(this.o.scrapeIntervalMs ?? 2000, () => this.scrape());
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  snapshot(now = new Date()): DashboardState {
    const kc = this.o.kube.kubeConfig;
    const list = (p: WatchedPart) => (this.informers.get(p)?.list() ?? []) as AnyObject[];
    const oomKills = new Map([...this.oom].map(([k, v]) => [k, v.count]));
    return buildState({
      now,
      cluster: { context: kc.getCurrentContext(), server: kc.getCurrentCluster()?.server ?? '', user: kc.getCurrentUser()?.name ?? '' },
      providers: list('providers'),
      instances: list('instances'),
      nodes: list('nodes'),
      grants: list('grants'),
      unavailable: [...this.unavailable.values()],
      calls: this.calls,
      oomKills,
    });
  }

  /** Run `f` after `ms`, unless stopped first; a fired timer is forgotten (the dashboard runs for days). */
  private later(ms: number, f: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) f();
    }, ms);
    this.timers.add(t);
  }

  private every(ms: number, f: () => Promise<void>): void {
    const tick = () => this.later(ms, () => void f().finally(tick));
    tick();
  }

  /** Probe with the user's rights first: an informer retries a 403 forever without saying so. */
  private async watch(part: WatchedPart): Promise<void> {
    const path = collectionPath(part, part === 'nodes' ? undefined : this.o.namespace);
    try {
      await this.o.kube.list(path, { limit: 1 });
    } catch (err) {
      this.unavailable.set(part, unavailableFrom(part, err));
      this.log.warn({ part, err: (err as Error).message }, 'cannot read; retrying');
      this.later(this.o.retryMs ?? 15_000, () => void this.watch(part).then(() => this.o.onChange()));
      return;
    }
    this.unavailable.delete(part);
    const inf = new Informer<KubeObject>({ client: this.o.kube, path, name: `dashboard ${part}`, pageSize: 2000 });
    const changed = () => this.o.onChange();
    inf.addHandler({
      add: (o) => {
        if (part === 'instances') this.countOom(o);
        changed();
      },
      update: (o) => {
        if (part === 'instances') this.countOom(o);
        changed();
      },
      delete: (o) => {
        if (part === 'instances') this.oom.delete(`${o.metadata.namespace}/${o.metadata.name}`);
        changed();
      },
    });
    this.informers.set(part, inf);
    if (this.stopped) return;
    await inf.start();
    this.later(this.o.retryMs ?? 15_000, () => void this.recheck(part, path, inf));
  }

  /**
   * A right taken away while watching must not leave the last data showing: the informer would
   * retry its 403 quietly with its cache intact. So ask again now and then; on Forbidden (or
   * any refusal) drop the part's data, show why, and go back to probing.
   */
  private async recheck(part: WatchedPart, path: string, inf: Informer<KubeObject>): Promise<void> {
    try {
      await this.o.kube.list(path, { limit: 1 });
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.code < 400 || err.code >= 500 || this.stopped) {
        this.later(this.o.retryMs ?? 15_000, () => void this.recheck(part, path, inf));
        return;
      }
      this.informers.delete(part);
      await inf.stop();
      this.unavailable.set(part, unavailableFrom(part, err));
      this.o.onChange();
      this.later(this.o.retryMs ?? 15_000, () => void this.watch(part).then(() => this.o.onChange()));
      return;
    }
    this.later(this.o.retryMs ?? 15_000, () => void this.recheck(part, path, inf));
  }

  /** The API keeps only the last termination: count each OOM kill this dashboard sees. */
  private countOom(o: KubeObject): void {
    const last = (o as Loose).status?.lastTermination;
    if (last?.reason !== 'OOMKilled') return;
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    const seen = this.oom.get(key);
    if (seen?.at === last.at) return;
    this.oom.set(key, { at: last.at, count: (seen?.count ?? 0) + 1 });
  }

  private async scrape(): Promise<void> {
    const before = JSON.stringify(this.calls ? [...this.calls] : null) + JSON.stringify(this.unavailable.get('metrics') ?? null);
    try {
      const targets = await this.o.metrics();
      if (!targets.length) {
        this.unavailable.set('metrics', { part: 'metrics', reason: 'NoTargets', message: 'no agent metrics to read (pass --metrics URL)' });
      } else {
        const now: Scrape = { at: Date.now(), targets: new Map() };
        const failed: string[] = [];
        let forbidden: unknown;
        await Promise.all(
          targets.map(async (t) => {
            try {
              now.targets.set(t.name, parsePrometheusText(await t.read()).samples);
            } catch (err) {
              if (err instanceof KubeApiError && err.code === 403) forbidden = err;
              failed.push(`${t.name}: ${(err as Error).message}`);
            }
          }),
        );
        if (now.targets.size) this.calls = callFigures(now, this.lastScrape);
        this.lastScrape = now;
        if (forbidden) this.unavailable.set('metrics', unavailableFrom('metrics', forbidden));
        else if (failed.length)
          this.unavailable.set('metrics', { part: 'metrics', reason: 'Unreachable', message: failed.sort().join('; ') });
        else this.unavailable.delete('metrics');
      }
    } catch (err) {
      this.unavailable.set('metrics', unavailableFrom('metrics', err));
    }
    const after = JSON.stringify(this.calls ? [...this.calls] : null) + JSON.stringify(this.unavailable.get('metrics') ?? null);
    if (after !== before) this.o.onChange();
  }
}
