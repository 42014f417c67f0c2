/**
 * The load reports of every Provider's instances (client/load.ts), kept for one window, and the
 * figures the autoscaler decides on: calls/s = Σ Δcalls / span and in-flight = Σ Δbusy / span over each
 * instance's reports in the window (docs/autoscaling.md). Pure: the caller gives every time.
 *
 * Reports come from hosts running native provider code, so nothing here trusts them beyond what
 * one host can say about itself: a report older than the last one kept (same host start) is
 * dropped; counters that go backwards, or a new `startedAt`, begin a new series (a restarted
 * host); an instance silent for a window stops counting; `retain` forgets instances that no
 * longer exist. What a fallen node can do is misreport its own instances' load, which the
 * autoscaler bounds by maxReplicas.
 */
import type { LoadReport } from '../../client/load.js';
import type { ProviderFigures, ProviderFiguresSource } from './contract.js';

interface Sample {
  /** Controller clock (ms): which window a report falls in. */
  receivedAt: number;
  /** Host clock (ms): the time base of the host's own counters. */
  at: number;
  calls: number;
  overloaded: number;
  busyMs: number;
  inFlight: number;
}

interface Series {
  startedAt: number;
  samples: Sample[];
}

interface ProviderLoad {
  instances: Map<string, Series>;
  /** Controller clock of the last call seen (survives its instance). */
  lastCallAt?: number;
}

export type RecordResult = 'recorded' | 'restarted' | 'out-of-order';

export class LoadStore implements ProviderFiguresSource {
  private readonly providers = new Map<string, ProviderLoad>();

  /** `windowMs`: the span figures are taken over (--autoscale-window). */
  constructor(readonly windowMs: number) {}

  /** Keeps one parsed report of `provider`'s instance `report.instance`, received at `receivedAtMs`. */
  record(namespace: string, provider: string, report: LoadReport, receivedAtMs: number): RecordResult {
    const key = `${namespace}/${provider}`;
    let p = this.providers.get(key);
    if (!p) this.providers.set(key, (p = { instances: new Map() }));
    const s: Sample = {
      receivedAt: receivedAtMs,
      at: report.at,
      calls: report.calls,
      overloaded: report.overloaded,
      busyMs: report.busyMs,
      inFlight: report.inFlight,
    };
    const series = p.instances.get(report.instance);
    if (series && series.startedAt === report.startedAt) {
      const last = series.samples.at(-1)!; // a series always holds a sample
      if (s.at <= last.at) return 'out-of-order';
      if (s.calls >= last.calls && s.busyMs >= last.busyMs && s.overloaded >= last.overloaded) {
        if (s.calls > last.calls || s.inFlight > 0) p.lastCallAt = receivedAtMs;
        series.samples.push(s);
        this.prune(series, receivedAtMs);
        return 'recorded';
      }
    }
    // a new host (or one that restarted): counting began at startedAt from zero
    const samples: Sample[] = [];
    if (report.startedAt <= report.at && report.at - report.startedAt <= this.windowMs)
      samples.push({
        receivedAt: receivedAtMs, // for the window, it arrived with the report it stands under
        at: report.startedAt,
        calls: 0,
        overloaded: 0,
        busyMs: 0,
        inFlight: 0,
      });
    samples.push(s);
    if (s.calls > 0 && samples.length > 1) p.lastCallAt = receivedAtMs;
    if (s.inFlight > 0) p.lastCallAt = receivedAtMs;
    p.instances.set(report.instance, { startedAt: report.startedAt, samples });
    return series ? 'restarted' : 'recorded';
  }

  /** Forgets the instances of `provider` not in `instances` (deleted ones), and the Provider when none is. */
  retain(namespace: string, provider: string, instances: ReadonlySet<string>): void {
    const p = this.providers.get(`${namespace}/${provider}`);
    if (!p) return;
    for (const name of p.instances.keys()) if (!instances.has(name)) p.instances.delete(name);
  }

  /**
   * Forgets instances silent for a window, and Providers left without any (those nobody asks
   * figures of, e.g. not autoscaled, are pruned only here): memory follows the live instances.
   */
  sweep(nowMs: number): void {
    for (const [key, p] of this.providers) {
      for (const [name, series] of p.instances) if (series.samples.at(-1)!.receivedAt < nowMs - this.windowMs) p.instances.delete(name);
      if (p.instances.size === 0) this.providers.delete(key);
    }
  }

  /** What the store holds (what it costs; tests). */
  size(): { providers: number; instances: number; samples: number } {
    const out = { providers: this.providers.size, instances: 0, samples: 0 };
    for (const p of this.providers.values())
      for (const series of p.instances.values()) {
        out.instances++;
        out.samples += series.samples.length;
      }
    return out;
  }

  /** Forgets a Provider altogether (deleted, or no longer autoscaled). */
  forget(namespace: string, provider: string): void {
    this.providers.delete(`${namespace}/${provider}`);
  }

  /** The Provider's figures over the window ending at `nowMs`; undefined when no instance reported in it. */
  figures(namespace: string, provider: string, nowMs = Date.now()): ProviderFigures | undefined {
    const p = this.providers.get(`${namespace}/${provider}`);
    if (!p) return undefined;
    const from = nowMs - this.windowMs;
    const out: ProviderFigures = { callsPerSecond: 0, inFlight: 0, overloadedPerSecond: 0, reporting: 0, lastCallAt: p.lastCallAt };
    // Σ of each instance's deltas over one span, the longest any instance covers: an instance that
    // joined late contributes its calls, not its own short-span rate on top of the others'
    // window averages (which counted the load it took over, and overshot a step up)
    let calls = 0;
    let overloaded = 0;
    let busyMs = 0;
    let spanMs = 0;
    for (const [name, series] of p.instances) {
      this.prune(series, nowMs);
      const last = series.samples.at(-1)!;
      if (last.receivedAt < from) {
        p.instances.delete(name); // silent for a window: gone, or cut off
        continue;
      }
      out.reporting++;
      // the last report before the window is the baseline, so sparse reports still give a rate
      const first = series.samples[0];
      calls += last.calls - first.calls;
      overloaded += last.overloaded - first.overloaded;
      busyMs += last.busyMs - first.busyMs;
      spanMs = Math.max(spanMs, last.at - first.at);
      if (last.at === first.at) out.inFlight += last.inFlight; // one report: what it says runs now
    }
    if (spanMs > 0) {
      out.callsPerSecond = calls / (spanMs / 1000);
      out.overloadedPerSecond = overloaded / (spanMs / 1000);
      out.inFlight += busyMs / spanMs;
    }
    return out.reporting > 0 ? out : undefined;
  }

  /** Keeps the samples inside the window and the last one before it (the baseline). */
  private prune(series: Series, nowMs: number): void {
    const from = nowMs - this.windowMs;
    let firstInside = series.samples.findIndex((x) => x.receivedAt >= from);
    // Stryker disable next-line ConditionalExpression: all outside the window: figures() drops the instance, record() just added one inside
    if (firstInside < 0) firstInside = series.samples.length - 1;
    // Stryker disable next-line ConditionalExpression,EqualityOperator: splice with a count of 0 or less removes nothing
    if (firstInside > 1) series.samples.splice(0, firstInside - 1);
  }
}
