/**
 * What one autoscaled Provider's replicas should be, from its figures (load-store.ts), as the HPA
 * decides (docs/autoscaling.md): recommendation = ceil(total / target) unless within the 10 %
 * tolerance, clamped to [max(minReplicas, 1), maxReplicas]; a scale up takes the lowest
 * recommendation of the last scaleUpStabilizationSeconds, a scale down the highest of the last
 * scaleDownStabilizationSeconds; with minReplicas 0, no call for scaleToZeroAfterSeconds scales
 * to zero, where the Provider stays until an activation. Pure: every time is given.
 */
import type { AutoscaleSettings } from '../../api/provider.js';
import type { ProviderFigures } from './contract.js';

export const TOLERANCE = 0.1;

export type AutoscaleReason = 'ScaledUp' | 'ScaledDown' | 'ScaledToZero' | 'Activated' | 'Steady' | 'AtMaxReplicas' | 'NoFigures';

export interface Decision {
  desired: number;
  reason: AutoscaleReason;
  message: string;
}

/** A figure as status.autoscale shows it (a decimal string, at most 3 decimals). */
export const figure = (x: number) => String(Math.round(x * 1000) / 1000);

/** The figure the target is about, and its name. */
function total(s: AutoscaleSettings, f: ProviderFigures): { value: number; what: string } {
  return s.target.kind === 'inFlight'
    ? { value: f.inFlight, what: `${figure(f.inFlight)} in flight (target ${s.target.perInstance} per instance)` }
    : { value: f.callsPerSecond, what: `${figure(f.callsPerSecond)} calls/s (target ${s.target.perInstance} per instance)` };
}

export class Decider {
  /** Recommendations (clamped) by time, newest last, for the stabilization windows. */
  // Stryker disable next-line ArrayDeclaration: an entry without a time is dropped by the first prune
  private history: { at: number; replicas: number }[] = [];
  /** When the idle clock (re)started: creation, or the last activation. */
  private idleFrom: number;
  /** When the history began (creation, activation): before it, the windows count as `current`. */
  private historyFrom: number;

  constructor(nowMs: number) {
    this.idleFrom = nowMs;
    this.historyFrom = nowMs;
  }

  /** 0→1 at once; the idle clock restarts so the Provider is not scaled back before the call arrives. */
  activate(current: number, caller: string, nowMs: number): Decision | undefined {
    this.idleFrom = nowMs;
    this.historyFrom = nowMs;
    // Stryker disable next-line ArrayDeclaration: an entry without a time is dropped by the next prune
    this.history = [];
    if (current > 0) return undefined;
    return { desired: 1, reason: 'Activated', message: `activated from zero by a call of ${caller}` };
  }

  decide(s: AutoscaleSettings, current: number, f: ProviderFigures | undefined, nowMs: number): Decision {
    const floor = Math.max(s.minReplicas, 1);
    const clamp = (n: number) => Math.min(s.maxReplicas, Math.max(floor, n));
    const idleSince = Math.max(this.idleFrom, f?.lastCallAt ?? Number.NEGATIVE_INFINITY);
    const idleMs = nowMs - idleSince;
    const busy = !!f && (f.inFlight > 0 || f.callsPerSecond > 0);
    if (current === 0) {
      if (s.minReplicas > 0) return { desired: clamp(0), reason: 'ScaledUp', message: `below minReplicas ${s.minReplicas}` };
      return { desired: 0, reason: 'ScaledToZero', message: 'at zero until a call activates it' };
    }
    if (s.minReplicas === 0 && !busy && idleMs >= s.scaleToZeroAfterSeconds * 1000)
      return {
        desired: 0,
        reason: 'ScaledToZero',
        message: `no call for ${Math.floor(idleMs / 1000)}s (scaleToZeroAfterSeconds ${s.scaleToZeroAfterSeconds})`,
      };

    let recommended = current;
    let why = 'no instance reports load';
    if (f) {
      const t = total(s, f);
      why = t.what;
      const ratio = t.value / (current * s.target.perInstance);
      // the epsilon: 8.8 / 8 − 1 is 0.10000000000000009 in floating point, and within the tolerance
      // Stryker disable next-line EqualityOperator: a ratio exactly at tolerance + 1e-9 is not a float the figures produce
      if (Math.abs(ratio - 1) > TOLERANCE + 1e-9) recommended = Math.ceil(t.value / s.target.perInstance - 1e-9);
    }
    this.history.push({ at: nowMs, replicas: clamp(recommended) });
    const keepFrom = nowMs - Math.max(s.scaleUpStabilizationSeconds, s.scaleDownStabilizationSeconds) * 1000;
    // Stryker disable next-line MethodExpression,ConditionalExpression: this prune bounds memory only; within() takes its own window
    this.history = this.history.filter((h) => h.at >= keepFrom);
    // before the first recommendation kept (a new controller, an activation) the window counts as `current`
    const within = (sec: number) => {
      const from = nowMs - sec * 1000;
      const recs = this.history.filter((h) => h.at >= from).map((h) => h.replicas);
      return this.historyFrom > from ? [...recs, current] : recs;
    };
    const up = Math.min(...within(s.scaleUpStabilizationSeconds));
    const down = Math.max(...within(s.scaleDownStabilizationSeconds));
    // Stryker disable next-line EqualityOperator: up equal to current gives current either way
    const desired = clamp(up > current ? up : Math.min(down, current));

    if (desired > current) return { desired, reason: 'ScaledUp', message: `${why}: ${current} → ${desired}` };
    if (desired < current) return { desired, reason: 'ScaledDown', message: `${why}: ${current} → ${desired}` };
    if (!f) return { desired, reason: 'NoFigures', message: `${why}; keeping ${current}` };
    if (recommended > s.maxReplicas)
      return { desired, reason: 'AtMaxReplicas', message: `${why} wants ${recommended}; maxReplicas is ${s.maxReplicas}` };
    return { desired, reason: 'Steady', message: `${why}: ${current} suffice` };
  }
}
