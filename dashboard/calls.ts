/**
 * Call figures per Provider from the agents' metrics (agent/call-metrics.ts):
 *
 *   gantry_provider_calls_total{namespace,provider,operation,code}            counter
 *   gantry_provider_call_duration_seconds_bucket{namespace,provider,operation,le}  histogram
 *   gantry_provider_calls_in_flight{namespace,provider}                       gauge
 *
 * Rates are the difference of two scrapes over the time between them, summed over every agent
 * and operation. A series that went down was reset (its agent restarted): its new value is all
 * it counted since. Quantiles interpolate inside the histogram bucket that holds them, as
 * Prometheus' histogram_quantile does, over the interval's calls — or, when the interval had
 * none, over all calls since the agents started, so a quiet Provider still shows its latency.
 */
import type { CallFigures } from './model.js';
import type { Sample } from './prometheus.js';

/** One scrape of every target: when, and the samples each target gave. */
export interface Scrape {
  at: number;
  /** target name → its samples */
  targets: Map<string, Sample[]>;
}

const CALLS = 'gantry_provider_calls_total';
const BUCKETS = 'gantry_provider_call_duration_seconds_bucket';
const IN_FLIGHT = 'gantry_provider_calls_in_flight';

interface Acc {
  rate: number;
  errorRate: number;
  totals: Record<string, number>;
  /** le → calls in the interval / since start */
  window: Map<number, number>;
  cumulative: Map<number, number>;
  inFlight: number;
}

function seriesId(target: string, s: Sample): string {
  const labels = Object.keys(s.labels)
    .sort()
    .map((k) => `${k}=${s.labels[k]}`)
    .join(',');
  return `${target}\u0000${s.name}\u0000${labels}`;
}

/** What a counter series counted between `prev` and now (all of it when it was reset). */
function increase(value: number, previous: number | undefined): number {
  if (previous === undefined) return 0;
  return value >= previous ? value - previous : value;
}

/** Call figures by `<namespace>/<provider>`; `prev` absent (first scrape): rates are 0. */
export function callFigures(now: Scrape, prev?: Scrape): Map<string, CallFigures> {
  const before = new Map<string, number>();
  for (const [target, samples] of prev?.targets ?? []) for (const s of samples) before.set(seriesId(target, s), s.value);
  // a series new since the last scrape counted all its value in the interval, unless there was no last scrape
  const seen = (target: string) => prev?.targets.has(target) ?? false;
  const seconds = prev ? (now.at - prev.at) / 1000 : 0;
  const accs = new Map<string, Acc>();
  const acc = (s: Sample): Acc | undefined => {
    const { namespace, provider } = s.labels;
    if (!namespace || !provider) return undefined;
    const key = `${namespace}/${provider}`;
    let a = accs.get(key);
    if (!a) {
      a = { rate: 0, errorRate: 0, totals: {}, window: new Map(), cumulative: new Map(), inFlight: 0 };
      accs.set(key, a);
    }
    return a;
  };
  for (const [target, samples] of now.targets) {
    for (const s of samples) {
      if (!Number.isFinite(s.value) && s.name !== BUCKETS) continue;
      const a = acc(s);
      if (!a) continue;
      const old = before.get(seriesId(target, s)) ?? (seen(target) ? 0 : undefined);
      if (s.name === CALLS) {
        const code = s.labels.code ?? 'UNKNOWN';
        // codes never seen stay out: the agents export every code from the start, most at 0
        if (s.value > 0) a.totals[code] = (a.totals[code] ?? 0) + s.value;
        const d = seconds > 0 ? increase(s.value, old) / seconds : 0;
        a.rate += d;
        if (code !== 'OK') a.errorRate += d;
      } else if (s.name === BUCKETS) {
        const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
        if (Number.isNaN(le)) continue;
        a.cumulative.set(le, (a.cumulative.get(le) ?? 0) + s.value);
        a.window.set(le, (a.window.get(le) ?? 0) + increase(s.value, old));
      } else if (s.name === IN_FLIGHT) {
        a.inFlight += s.value;
      }
    }
  }
  const out = new Map<string, CallFigures>();
  for (const [key, a] of accs) {
    const buckets = countOf(a.window) > 0 ? a.window : a.cumulative;
    const p50 = histogramQuantile(0.5, buckets);
    const p99 = histogramQuantile(0.99, buckets);
    out.set(key, {
      rate: a.rate,
      errorRate: a.errorRate,
      totals: a.totals,
      inFlight: a.inFlight,
      ...(p50 === undefined ? {} : { p50Ms: p50 * 1000 }),
      ...(p99 === undefined ? {} : { p99Ms: p99 * 1000 }),
    });
  }
  return out;
}

function countOf(buckets: Map<number, number>): number {
  return buckets.get(Number.POSITIVE_INFINITY) ?? Math.max(0, ...buckets.values());
}

/**
 * The q-quantile of cumulative buckets (upper bound → count at or below it), linearly
 * interpolated inside its bucket; the lowest bucket starts at 0; a quantile in the +Inf bucket
 * is the highest finite bound. Undefined without observations.
 */
export function histogramQuantile(q: number, buckets: Map<number, number>): number | undefined {
  const bounds = [...buckets.keys()].sort((a, b) => a - b);
  const total = countOf(buckets);
  if (!bounds.length || total <= 0) return undefined;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const b of bounds) {
    const count = buckets.get(b)!;
    if (count >= rank) {
      if (b === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = count - lowerCount;
      return inBucket > 0 ? lowerBound + (b - lowerBound) * ((rank - lowerCount) / inBucket) : b;
    }
    lowerBound = b;
    lowerCount = count;
  }
  return lowerBound;
}
