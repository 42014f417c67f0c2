/**
 * controller/autoscale/load-store.ts alone: rates from cumulative counters, summed over one span;
 * a restarted host (new startedAt, or counters that went back) starts a new series; an
 * out-of-order report is dropped; silent and deleted instances leave the figures.
 */
import { describe, expect, it } from 'vitest';
import type { LoadReport } from '../../../client/load.js';
import { LoadStore } from '../../../controller/autoscale/load-store.js';

const T0 = 1_000_000;
const report = (instance: string, at: number, calls: number, busyMs: number, o: Partial<LoadReport> = {}): LoadReport => ({
  v: 1,
  instance,
  at,
  startedAt: T0 - 600_000,
  calls,
  overloaded: 0,
  inFlight: 0,
  busyMs,
  serving: true,
  ...o,
});

describe('LoadStore', () => {
  it('calls/s = Σ Δcalls/Δt and in-flight = Σ Δbusy/Δt over the window', () => {
    const s = new LoadStore(6000);
    for (let i = 0; i <= 6; i++) {
      s.record('ns', 'p', report('a', T0 + i * 1000, i * 100, i * 1500), T0 + i * 1000);
      s.record('ns', 'p', report('b', T0 + i * 1000 + 3, i * 50, i * 500, { overloaded: i * 5 }), T0 + i * 1000 + 3);
    }
    const f = s.figures('ns', 'p', T0 + 6010)!;
    expect(f.reporting).toBe(2);
    expect(f.callsPerSecond).toBeCloseTo(150, 6);
    expect(f.inFlight).toBeCloseTo(2, 6);
    expect(f.overloadedPerSecond).toBeCloseTo(5, 6);
    expect(f.lastCallAt).toBe(T0 + 6003);
    expect(s.figures('ns', 'other', T0)).toBeUndefined();
    expect(s.figures('other', 'p', T0)).toBeUndefined();
  });

  it("instances that joined late add their calls over the common span, not their short-span rates on top of the others' averages", () => {
    const s = new LoadStore(6000);
    // 100 calls/s all on a for 4 s, then split five ways (20/s each) for 2 s: still 100/s
    for (let i = 0; i <= 4; i++) s.record('ns', 'p', report('a', T0 + i * 1000, i * 100, 0), T0 + i * 1000);
    for (let i = 5; i <= 6; i++) s.record('ns', 'p', report('a', T0 + i * 1000, 400 + (i - 4) * 20, 0), T0 + i * 1000);
    for (const n of ['b', 'c', 'd', 'e']) s.record('ns', 'p', report(n, T0 + 6000, 40, 0, { startedAt: T0 + 4000 }), T0 + 6000);
    const f = s.figures('ns', 'p', T0 + 6000)!;
    expect(f.reporting).toBe(5);
    expect(f.callsPerSecond).toBeCloseTo(100, 6); // summed per-instance rates said 440/6 + 4 × 40/2 ≈ 153
  });

  it('takes the rate from the host clock, the window from the controller clock', () => {
    const s = new LoadStore(6000);
    // the host's clock is an hour off; its reports arrive every second
    s.record('ns', 'p', report('a', 3_600_000 + 0, 0, 0, { startedAt: 0 }), T0);
    s.record('ns', 'p', report('a', 3_600_000 + 2000, 40, 0, { startedAt: 0 }), T0 + 2000);
    expect(s.figures('ns', 'p', T0 + 2000)!.callsPerSecond).toBe(20);
  });

  it('one report alone: its in-flight as it stands, no rate', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0, 500, 9000, { inFlight: 3 }), T0);
    expect(s.figures('ns', 'p', T0)).toMatchObject({ reporting: 1, callsPerSecond: 0, inFlight: 3 });
  });

  it('a host that began inside the window counts from zero at its startedAt', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0 + 2000, 60, 1000, { startedAt: T0 }), T0 + 2000);
    expect(s.figures('ns', 'p', T0 + 2000)).toMatchObject({ callsPerSecond: 30, inFlight: 0.5, lastCallAt: T0 + 2000 });
  });

  it('a restarted host (new startedAt, or counters gone back) starts a new series, never a negative rate', () => {
    const s = new LoadStore(6000);
    expect(s.record('ns', 'p', report('a', T0, 1000, 0), T0)).toBe('recorded');
    expect(s.record('ns', 'p', report('a', T0 + 1000, 1100, 0), T0 + 1000)).toBe('recorded');
    expect(s.record('ns', 'p', report('a', T0 + 2000, 10, 0, { startedAt: T0 + 1500 }), T0 + 2000)).toBe('restarted');
    expect(s.figures('ns', 'p', T0 + 2000)!.callsPerSecond).toBe(20);
    expect(s.record('ns', 'p', report('a', T0 + 3000, 5, 0, { startedAt: T0 + 1500 }), T0 + 3000)).toBe('restarted');
    const f = s.figures('ns', 'p', T0 + 3000)!;
    expect(f.callsPerSecond).toBeGreaterThanOrEqual(0);
    expect(f.callsPerSecond).toBe(5 / 1.5);
  });

  it('drops an out-of-order or repeated report', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0, 0, 0), T0);
    s.record('ns', 'p', report('a', T0 + 2000, 200, 0), T0 + 2000);
    expect(s.record('ns', 'p', report('a', T0 + 1000, 50, 0), T0 + 2100)).toBe('out-of-order');
    expect(s.record('ns', 'p', report('a', T0 + 2000, 900, 0), T0 + 2100)).toBe('out-of-order');
    expect(s.figures('ns', 'p', T0 + 2100)!.callsPerSecond).toBe(100);
  });

  it('an instance silent for a window leaves the figures; the last report before the window is the baseline', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0, 0, 0), T0);
    s.record('ns', 'p', report('b', T0, 0, 0), T0);
    for (let i = 1; i <= 10; i++) s.record('ns', 'p', report('a', T0 + i * 1000, i * 10, 0), T0 + i * 1000);
    const f = s.figures('ns', 'p', T0 + 10_000)!;
    expect(f.reporting).toBe(1);
    expect(f.callsPerSecond).toBeCloseTo(10, 6);
    // sparse reports: one every 8 s still gives a rate over the window
    const sparse = new LoadStore(6000);
    sparse.record('ns', 'p', report('a', T0, 0, 0), T0);
    sparse.record('ns', 'p', report('a', T0 + 5000, 50, 0), T0 + 5000);
    expect(sparse.figures('ns', 'p', T0 + 10_000)!.callsPerSecond).toBe(10);
    expect(sparse.figures('ns', 'p', T0 + 11_001)).toBeUndefined();
  });

  it('retain forgets deleted instances; forget the whole Provider', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0, 0, 0, { inFlight: 1 }), T0);
    s.record('ns', 'p', report('b', T0, 0, 0, { inFlight: 2 }), T0);
    s.retain('ns', 'p', new Set(['b']));
    expect(s.figures('ns', 'p', T0)).toMatchObject({ reporting: 1, inFlight: 2 });
    s.retain('ns', 'nothing', new Set());
    s.forget('ns', 'p');
    expect(s.figures('ns', 'p', T0)).toBeUndefined();
  });

  it('a counter gone back alone is a restart; equal counters are not', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0, 100, 1000, { overloaded: 5 }), T0);
    expect(s.record('ns', 'p', report('a', T0 + 1000, 100, 1000, { overloaded: 5 }), T0 + 1000)).toBe('recorded');
    expect(s.record('ns', 'p', report('a', T0 + 2000, 100, 900, { overloaded: 5 }), T0 + 2000)).toBe('restarted');
    expect(s.record('ns', 'p', report('a', T0 + 3000, 100, 900, { overloaded: 4 }), T0 + 3000)).toBe('restarted');
    expect(s.record('ns', 'p', report('a', T0 + 4000, 99, 900, { overloaded: 4 }), T0 + 4000)).toBe('restarted');
  });

  it('the last call is a report with new calls or calls in flight, not one that only repeats the counters', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0, 100, 0), T0);
    s.record('ns', 'p', report('a', T0 + 1000, 100, 0), T0 + 1000);
    expect(s.figures('ns', 'p', T0 + 1000)?.lastCallAt).toBeUndefined();
    s.record('ns', 'p', report('a', T0 + 2000, 100, 0, { inFlight: 1 }), T0 + 2000);
    expect(s.figures('ns', 'p', T0 + 2000)?.lastCallAt).toBe(T0 + 2000);
    s.record('ns', 'p', report('a', T0 + 3000, 100, 0), T0 + 3000);
    expect(s.figures('ns', 'p', T0 + 3000)?.lastCallAt).toBe(T0 + 2000);
    s.record('ns', 'p', report('a', T0 + 4000, 101, 0), T0 + 4000);
    expect(s.figures('ns', 'p', T0 + 4000)?.lastCallAt).toBe(T0 + 4000);
  });

  it('keeps the window and one report before it, whether or not anyone asks for figures; sweep forgets the silent', () => {
    const s = new LoadStore(6000);
    for (let i = 0; i <= 100; i++) s.record('ns', 'p', report('a', T0 + i * 1000, i * 10, 0), T0 + i * 1000);
    // reports at 94…100 s are inside the window (from 94 s on), 93 s is the baseline
    expect(s.size()).toEqual({ providers: 1, instances: 1, samples: 8 });
    expect(s.figures('ns', 'p', T0 + 100_000)!.callsPerSecond).toBeCloseTo(10, 6);
    s.record('ns', 'q', report('b', T0 + 100_000, 0, 0), T0 + 100_000);
    s.sweep(T0 + 106_000);
    expect(s.size()).toEqual({ providers: 2, instances: 2, samples: 9 });
    s.sweep(T0 + 106_001);
    expect(s.size()).toEqual({ providers: 0, instances: 0, samples: 0 });
    expect(s.figures('ns', 'p', T0 + 100_000)).toBeUndefined();
  });

  it('a new startedAt is a restart even when the counters went up', () => {
    const s = new LoadStore(6000);
    s.record('ns', 'p', report('a', T0, 1000, 0), T0);
    expect(s.record('ns', 'p', report('a', T0 + 2000, 5000, 0, { startedAt: T0 + 1000 }), T0 + 2000)).toBe('restarted');
    expect(s.figures('ns', 'p', T0 + 2000)!.callsPerSecond).toBe(5000);
  });

  it('figures move with the window as time passes, from the last report before it', () => {
    const s = new LoadStore(6000);
    // no calls until 5 s, then 100 a second and a burst of 1000 at 9 s; overloaded and busy grow from a non-zero base
    const calls = (i: number) => 100 * Math.max(0, i - 5) + (i >= 9 ? 1000 : 0);
    for (let i = 0; i <= 10; i++)
      s.record('ns', 'p', report('a', T0 + i * 1000, calls(i), 1000 + i * 500, { overloaded: 7 + i }), T0 + i * 1000);
    const later = s.figures('ns', 'p', T0 + 14_000)!;
    expect(later.callsPerSecond).toBeCloseTo(1300 / 3, 6); // (1500 − 200) / 3 s, from the report at 7 s
    expect(later.overloadedPerSecond).toBeCloseTo(1, 6);
    expect(later.inFlight).toBeCloseTo(0.5, 6);
    // still inside at exactly one window after its last report; gone (and forgotten) just after
    expect(s.figures('ns', 'p', T0 + 16_000)?.reporting).toBe(1);
    expect(s.figures('ns', 'p', T0 + 16_001)).toBeUndefined();
    expect(s.size()).toEqual({ providers: 1, instances: 0, samples: 0 });
  });

  it('when a new host last had a call: only with new calls since it began, or calls in flight', () => {
    const fresh = (o: Partial<LoadReport>, at = T0 + 1000) => {
      const s = new LoadStore(6000);
      s.record('ns', 'p', report('a', at, 0, 0, { startedAt: T0, ...o }), T0 + 5000);
      return s.figures('ns', 'p', T0 + 5000)?.lastCallAt;
    };
    expect(fresh({})).toBeUndefined();
    expect(fresh({ calls: 3 })).toBe(T0 + 5000);
    expect(fresh({ inFlight: 1 })).toBe(T0 + 5000);
    expect(fresh({ calls: 3 }, T0)).toBe(T0 + 5000); // a report the instant counting began
    // a host that began long before: its calls may be old, so they say nothing of when
    expect(fresh({ calls: 3, startedAt: T0 - 600_000 })).toBeUndefined();
    expect(fresh({ inFlight: 2, startedAt: T0 - 600_000 })).toBe(T0 + 5000);
    // a host that says it began after its own report is not believed about its calls
    expect(fresh({ calls: 3, startedAt: T0 + 2000 })).toBeUndefined();
    // began exactly one window before its report: counted from zero
    const edge = new LoadStore(6000);
    edge.record('ns', 'p', report('a', T0 + 6000, 60, 0, { startedAt: T0 }), T0 + 6000);
    expect(edge.figures('ns', 'p', T0 + 6000)!.callsPerSecond).toBe(10);
  });
});
