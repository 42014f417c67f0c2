/**
 * controller/autoscale/decide.ts alone, on a simulated clock: step up and back, tolerance,
 * min/max clamps, stabilization (a square wave shorter than the window moves replicas at most
 * once per window), scale to zero after the idle time, and activation restarting the idle clock.
 */
import { describe, expect, it } from 'vitest';
import { autoscaleDefaults, type Autoscale } from '../../../api/provider.js';
import type { ProviderFigures } from '../../../controller/autoscale/contract.js';
import { Decider, figure } from '../../../controller/autoscale/decide.js';

const settings = (a: Partial<Autoscale> = {}) => autoscaleDefaults({ maxReplicas: 10, targetInFlightPerInstance: 2, ...a });
const load = (inFlight: number, callsPerSecond = 0, lastCallAt?: number): ProviderFigures => ({
  inFlight,
  callsPerSecond,
  overloadedPerSecond: 0,
  reporting: 1,
  lastCallAt,
});

/** Runs the decider every second from `t`, feeding back its decisions; returns replicas per second. */
function run(
  d: Decider,
  s: ReturnType<typeof settings>,
  start: number,
  figures: (sec: number) => ProviderFigures | undefined,
  secs: number,
  t0 = 0,
) {
  let current = start;
  const seen: number[] = [];
  for (let i = 0; i < secs; i++) {
    current = d.decide(s, current, figures(i), t0 + i * 1000).desired;
    seen.push(current);
  }
  return seen;
}

describe('recommendation', () => {
  it('ceil(total / target), clamped to [max(minReplicas,1), maxReplicas], with the reason', () => {
    const s = settings({ minReplicas: 2, maxReplicas: 5 });
    expect(new Decider(0).decide(s, 2, load(7), 0)).toMatchObject({ desired: 4, reason: 'ScaledUp' });
    expect(new Decider(0).decide(s, 2, load(0.5), 0)).toMatchObject({ desired: 2, reason: 'Steady' });
    expect(new Decider(0).decide(s, 2, load(40), 0)).toMatchObject({ desired: 5, reason: 'ScaledUp' });
    const atMax = new Decider(0).decide(s, 5, load(40), 0);
    expect(atMax).toMatchObject({ desired: 5, reason: 'AtMaxReplicas' });
    expect(atMax.message).toContain('wants 20; maxReplicas is 5');
    // replicas set by hand above the range come back into it
    expect(new Decider(0).decide(s, 9, load(9), 0)).toEqual({
      desired: 5,
      reason: 'ScaledDown',
      message: '9 in flight (target 2 per instance): 9 → 5',
    });
    // exactly maxReplicas wanted, within the tolerance: Steady, not AtMaxReplicas
    expect(new Decider(0).decide(s, 5, load(9.9), 0)).toEqual({
      desired: 5,
      reason: 'Steady',
      message: '9.9 in flight (target 2 per instance): 5 suffice',
    });
    expect(new Decider(0).decide(settings({ minReplicas: 3 }), 1, load(0), 0)).toMatchObject({ desired: 3, reason: 'ScaledUp' });
    expect(new Decider(0).decide(settings({ minReplicas: 3 }), 0, undefined, 0)).toEqual({
      desired: 3,
      reason: 'ScaledUp',
      message: 'below minReplicas 3',
    });
  });

  it('calls per second when that is the target', () => {
    const s = autoscaleDefaults({ maxReplicas: 10, targetCallsPerSecondPerInstance: 100 });
    const d = new Decider(0).decide(s, 1, load(0, 450), 0);
    expect(d).toMatchObject({ desired: 5, reason: 'ScaledUp' });
    expect(d.message).toBe('450 calls/s (target 100 per instance): 1 → 5');
  });

  it('no change within the 10 % tolerance, a change just outside it', () => {
    const s = settings({ scaleDownStabilizationSeconds: 0 });
    expect(new Decider(0).decide(s, 4, load(8.8), 0)).toMatchObject({ desired: 4, reason: 'Steady' }); // 1.1
    expect(new Decider(0).decide(s, 4, load(7.2), 0)).toMatchObject({ desired: 4, reason: 'Steady' }); // 0.9
    expect(new Decider(0).decide(s, 4, load(8.9), 0)).toMatchObject({ desired: 5, reason: 'ScaledUp' });
    expect(new Decider(0).decide(s, 4, load(7.1), 0)).toMatchObject({ desired: 4 }); // ceil(3.55) = 4
    expect(new Decider(0).decide(s, 4, load(5.9), 0)).toMatchObject({ desired: 3, reason: 'ScaledDown' });
  });

  it('keeps replicas while no instance reports (NoFigures)', () => {
    expect(new Decider(0).decide(settings(), 3, undefined, 0)).toEqual({
      desired: 3,
      reason: 'NoFigures',
      message: 'no instance reports load; keeping 3',
    });
  });

  it('figures show as decimal strings of at most 3 decimals', () => {
    expect([figure(1 / 3), figure(2), figure(0.0004)]).toEqual(['0.333', '2', '0']);
  });
});

describe('stabilization', () => {
  it('a step 1→N goes up at once and back down only after scaleDownStabilizationSeconds', () => {
    const s = settings({ scaleDownStabilizationSeconds: 10 });
    const seen = run(new Decider(0), s, 1, (t) => load(t < 5 ? 12 : 0), 30);
    expect(seen.slice(0, 5)).toEqual([6, 6, 6, 6, 6]);
    // the highest recommendation of the last 10 s is 6 until second 15
    expect(seen.slice(5, 14).every((r) => r === 6)).toBe(true);
    expect(seen[14]).toBe(6);
    expect(seen[15]).toBe(1);
    expect(seen.at(-1)).toBe(1);
  });

  it('ticks that never land on the window edge scale down all the same', () => {
    const s = settings({ scaleDownStabilizationSeconds: 2 });
    const seen = run(new Decider(0), s, 1, (t) => load(t < 5 ? 12 : 0), 20, 7);
    expect(seen[4]).toBe(6);
    expect(seen.at(-1)).toBe(1);
    expect(seen.indexOf(1, 5)).toBeLessThanOrEqual(8);
  });

  it('a scale up without up-stabilization is not held back by the lower recommendations of the down window', () => {
    const s = settings({ scaleDownStabilizationSeconds: 30 });
    const seen = run(new Decider(0), s, 1, (t) => load(t < 10 ? 1 : 12), 12);
    expect(seen.slice(0, 10).every((r) => r === 1)).toBe(true);
    expect(seen[10]).toBe(6);
  });

  it('scaleUpStabilizationSeconds takes the lowest recommendation of its window', () => {
    const s = settings({ scaleUpStabilizationSeconds: 3 });
    const seen = run(new Decider(0), s, 1, () => load(12), 6);
    expect(seen).toEqual([1, 1, 1, 6, 6, 6]);
  });

  it('a square wave shorter than the window moves replicas at most once per window', () => {
    const s = settings({ scaleDownStabilizationSeconds: 30 });
    // 4 s high, 4 s low, for 2 minutes
    const seen = run(new Decider(0), s, 1, (t) => load(Math.floor(t / 4) % 2 === 0 ? 8 : 0), 120);
    const changes = seen.filter((r, i) => r !== (i === 0 ? 1 : seen[i - 1])).length;
    expect(changes).toBe(1);
    expect(seen.at(-1)).toBe(4);
  });
});

describe('scale to zero', () => {
  const s = settings({ minReplicas: 0, scaleToZeroAfterSeconds: 20, scaleDownStabilizationSeconds: 0 });

  it('idle for scaleToZeroAfterSeconds → 0, and it stays there', () => {
    const d = new Decider(0);
    expect(d.decide(s, 1, load(0, 0), 19_999)).toMatchObject({ desired: 1, reason: 'Steady' });
    const zero = d.decide(s, 1, load(0, 0), 20_000);
    expect(zero).toMatchObject({ desired: 0, reason: 'ScaledToZero' });
    expect(zero.message).toBe('no call for 20s (scaleToZeroAfterSeconds 20)');
    expect(d.decide(s, 0, undefined, 60_000)).toEqual({ desired: 0, reason: 'ScaledToZero', message: 'at zero until a call activates it' });
    expect(d.decide(s, 0, load(3), 60_000)).toMatchObject({ desired: 0 });
  });

  it('the idle clock runs from the last call reported, and not while calls run', () => {
    const d = new Decider(0);
    expect(d.decide(s, 1, load(0, 0, 15_000), 30_000)).toMatchObject({ desired: 1 });
    expect(d.decide(s, 1, load(0, 0, 15_000), 35_000)).toMatchObject({ desired: 0 });
    expect(new Decider(0).decide(s, 1, load(0.5, 0, 0), 60_000)).toMatchObject({ desired: 1 });
    expect(new Decider(0).decide(s, 1, load(0, 0.2, 0), 60_000)).toMatchObject({ desired: 1 });
  });

  it('not with minReplicas ≥ 1 (scaleToZeroAfterSeconds is ignored), which also brings a zero Provider back up', () => {
    const one = settings({ minReplicas: 1, scaleToZeroAfterSeconds: 1 });
    expect(new Decider(0).decide(one, 1, load(0), 600_000)).toMatchObject({ desired: 1, reason: 'Steady' });
    expect(new Decider(0).decide(one, 0, undefined, 600_000)).toMatchObject({ desired: 1, reason: 'ScaledUp' });
  });

  it('activation: 0→1 at once, and the idle clock restarts', () => {
    const d = new Decider(0);
    expect(d.decide(s, 1, load(0), 25_000).desired).toBe(0);
    expect(d.activate(0, 'UCALLER', 100_000)).toEqual({
      desired: 1,
      reason: 'Activated',
      message: 'activated from zero by a call of UCALLER',
    });
    expect(d.decide(s, 1, load(0), 119_000)).toMatchObject({ desired: 1 });
    expect(d.decide(s, 1, load(0), 120_000)).toMatchObject({ desired: 0 });
    // above zero: nothing to do, but the clock restarts all the same
    expect(d.activate(2, 'UCALLER', 200_000)).toBeUndefined();
    expect(d.decide(s, 2, load(0), 210_000)).toMatchObject({ desired: 1 });
    expect(d.decide(s, 1, load(0), 219_000)).toMatchObject({ desired: 1 });
  });
});
