/**
 * The calls this agent's hosts answered, per Provider, on the agent's /metrics (docs/agent.md):
 *
 *   gantry_provider_calls_total{namespace,provider,operation,code}         counter
 *   gantry_provider_call_duration_seconds{namespace,provider,operation}    histogram (calls that ran)
 *   gantry_provider_calls_in_flight{namespace,provider}                    gauge
 *
 * Each host sends its cumulative counts every second (IPC `calls`, agent/host/call-stats.ts),
 * checked first (call-snapshot.ts). Counters never go backwards: a host's earlier incarnations
 * are kept as its base (a restarted host counts from 0 again), and a host that stops (its
 * instance went away, or failed) is folded into its Provider's retired totals, kept for the
 * agent's life — memory per Provider, not per instance. Operation labels are admitted per
 * Provider once and for good, at most MAX_OPERATIONS of them; later names count as `other`,
 * so a name never moves between series.
 *
 * prom-client's Histogram cannot be fed bucket counts, so the three are collector objects
 * computed at scrape time, registered as any metric is.
 */
import type { EventEmitter } from 'node:events';
import type { Metric, MetricValue, Registry } from 'prom-client';
import { logger } from '../runtime/log.js';
import { checkCallsSnapshot, wentBackwards } from './call-snapshot.js';
import {
  CALL_CODES,
  type CallsSnapshot,
  emptyFigures,
  LATENCY_BUCKETS,
  MAX_OPERATIONS,
  type OperationFigures,
  OTHER_OPERATION,
} from './host/call-stats.js';

/** Figures by operation label. */
type Figures = Map<string, OperationFigures>;

interface ProviderCalls {
  namespace: string;
  provider: string;
  /** Operation labels admitted, for good. */
  labels: Set<string>;
  /** What hosts that stopped counted. */
  retired: Figures;
  hosts: Set<HostCalls>;
}

interface HostCalls {
  /** What the host's ended incarnations counted. */
  base: Figures;
  /** The running incarnation's last snapshot, as the host sent it (its names, not yet the Provider's labels). */
  last?: CallsSnapshot;
  /** Snapshots of incarnations started at or before this are late (already folded into base). */
  floor: number;
}

/** What a ProviderHost is to this module: its spec and its events. */
export type CountedHost = EventEmitter & { readonly spec: { namespace: string; provider: string; instance: string } };

export class ProviderCallMetrics {
  private readonly providers = new Map<string, ProviderCalls>();
  // Stryker disable next-line StringLiteral: the logger's name only labels its lines
  private readonly log = logger('call-metrics');

  constructor(registry: Registry) {
    const register = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => MetricValue<string>[]) =>
      // a collector object, as the Registry reads any metric: name, help, type and get()
      registry.registerMetric({
        name,
        help,
        type,
        get: async () => ({ name, help, type, values: values(), aggregator: 'sum' }),
      } as unknown as Metric);
    register(
      'gantry_provider_calls_total',
      "Calls this node's hosts answered, per Provider, operation (`other`: not yet answered OK, or past 32 names) and result code (OK or the error code)",
      'counter',
      () => this.callValues(),
    );
    register(
      'gantry_provider_call_duration_seconds',
      "Time from a call's start on the host to its answer, for calls that ran (refusals are counted, not timed)",
      'histogram',
      () => this.durationValues(),
    );
    register('gantry_provider_calls_in_flight', "Calls running now on this node's hosts of the Provider", 'gauge', () =>
      [...this.providers.values()].map((p) => ({
        labels: { namespace: p.namespace, provider: p.provider },
        value: [...p.hosts].reduce((n, h) => n + (h.last?.inFlight ?? 0), 0),
      })),
    );
  }

  /** Count what `host` reports, from now until it stops. */
  watch(host: CountedHost): void {
    const { namespace, provider, instance } = host.spec;
    const p = this.provider(namespace, provider);
    const h: HostCalls = { base: new Map(), floor: -1 };
    p.hosts.add(h);
    host.on('calls', (data: unknown) => {
      const why = this.record(p, h, data);
      if (why) this.log.warn({ namespace, instance, reason: why }, 'ignored call counts from a host');
    });
    // an incarnation that ended sent its last counts: they join the base, and its in-flight ends
    host.on('crash', () => endIncarnation(p, h));
    const retire = () => {
      if (!p.hosts.delete(h)) return;
      endIncarnation(p, h);
      add(p.retired, h.base);
    };
    host.once('stopped', retire);
    host.once('failed', retire);
  }

  /** Take a snapshot of `h`; the reason when it is refused. */
  private record(p: ProviderCalls, h: HostCalls, data: unknown): string | undefined {
    if (!p.hosts.has(h)) return 'the host was already retired';
    const s = checkCallsSnapshot(data);
    if (typeof s === 'string') return s;
    if (s.startedAt <= h.floor) return 'a late snapshot of an incarnation that ended';
    if (h.last && s.startedAt === h.last.startedAt) {
      const back = wentBackwards(h.last, s);
      if (back) return `counts went backwards (${back})`;
    } else endIncarnation(p, h);
    for (const op of Object.keys(s.ops)) this.admit(p, op);
    h.last = s;
    return undefined;
  }

  private admit(p: ProviderCalls, op: string): void {
    if (op !== OTHER_OPERATION && !p.labels.has(op) && p.labels.size < MAX_OPERATIONS) p.labels.add(op);
  }

  private provider(namespace: string, provider: string): ProviderCalls {
    const key = `${namespace}/${provider}`;
    let p = this.providers.get(key);
    if (!p) {
      p = { namespace, provider, labels: new Set(), retired: new Map(), hosts: new Set() };
      this.providers.set(key, p);
    }
    return p;
  }

  /** Everything a Provider's hosts counted, by operation label. */
  private totals(p: ProviderCalls): Figures {
    const all: Figures = new Map();
    add(all, p.retired);
    for (const h of p.hosts) {
      add(all, h.base);
      if (h.last) add(all, relabel(p, h.last));
    }
    return all;
  }

  private callValues(): MetricValue<string>[] {
    const out: MetricValue<string>[] = [];
    for (const p of this.providers.values())
      for (const [operation, f] of this.totals(p))
        for (const [i, code] of CALL_CODES.entries())
          out.push({ labels: { namespace: p.namespace, provider: p.provider, operation, code }, value: f.counts[i] });
    return out;
  }

  private durationValues(): MetricValue<string>[] {
    const name = 'gantry_provider_call_duration_seconds';
    const out: (MetricValue<string> & { metricName: string })[] = [];
    for (const p of this.providers.values())
      for (const [operation, f] of this.totals(p)) {
        const labels = { namespace: p.namespace, provider: p.provider, operation };
        let n = 0;
        for (const [i, b] of f.buckets.entries()) {
          n += b;
          const le = i < LATENCY_BUCKETS.length ? String(LATENCY_BUCKETS[i]) : '+Inf';
          out.push({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: n });
        }
        out.push({ metricName: `${name}_sum`, labels, value: f.sum });
        out.push({ metricName: `${name}_count`, labels, value: n });
      }
    return out;
  }
}

/** The running incarnation ended: its counts join the base; later snapshots of it are late. */
function endIncarnation(p: ProviderCalls, h: HostCalls): void {
  if (!h.last) return;
  add(h.base, relabel(p, h.last));
  h.floor = h.last.startedAt;
  h.last = undefined;
}

/**
 * A snapshot's operations under the Provider's labels (a name not admitted joins `other`). A
 * name is admitted at its first sighting or never (the set only fills), so it stays in one series.
 */
function relabel(p: ProviderCalls, s: CallsSnapshot): Figures {
  const ops: Figures = new Map();
  for (const [op, f] of Object.entries(s.ops)) add(ops, new Map([[p.labels.has(op) ? op : OTHER_OPERATION, f]]));
  return ops;
}

/** into += from, by operation label. */
function add(into: Figures, from: Figures): void {
  for (const [op, f] of from) {
    let t = into.get(op);
    if (!t) {
      t = emptyFigures();
      into.set(op, t);
    }
    for (let i = 0; i < f.counts.length; i++) t.counts[i] += f.counts[i];
    for (let i = 0; i < f.buckets.length; i++) t.buckets[i] += f.buckets[i];
    t.sum += f.sum;
  }
}
