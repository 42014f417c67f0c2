/** Where the time of one cold start goes: the instance runner's step marks and the host's own steps. */
import type { StartTimeline } from '../../agent/instance-runner.js';
import { median } from '../timing.js';

const STEP_LABELS: Record<string, string> = {
  runner: 'watch event → instance runner',
  Fetching: 'trust check',
  credentials: 'instance pull credentials (API read)',
  accessChecked: 'registry access check (manifest HEAD)',
  pulledAndVerified: 'fetch + verify archive',
  cacheReadAndVerified: 'fetch + verify archive',
  claimsRecheckedSealed: 'claims re-check (library sealed in memory)',
  Verifying: 'capid check',
  Starting: 'capid check + write library to store',
  Running: 'host start (spawn/claim → ready)',
  statusWritten: 'status write (Running)',
};

/** Durations between the runner's marks, the host's own steps, and the bench's poll. */
export function breakdown(t: StartTimeline, createdAt: number, seenAt: number): Record<string, number> {
  const out: Record<string, number> = {};
  let prev = createdAt;
  let verifyingAt: number | undefined;
  for (const [step, at] of t.marks) {
    if (step === 'Verifying') {
      verifyingAt = at;
      continue;
    }
    const from = step === 'Starting' && verifyingAt !== undefined ? Math.min(prev, verifyingAt) : prev;
    const label = STEP_LABELS[step] ?? step;
    out[label] = (out[label] ?? 0) + (at - from);
    prev = at;
  }
  if (t.host) {
    const inside = Object.values(t.host.steps).reduce((a, b) => a + b, 0);
    out[`  ${t.host.pooled ? 'claim pooled host' : 'fork + boot Node + load modules'} + IPC`] = t.host.totalMs - inside;
    for (const [k, v] of Object.entries(t.host.steps)) out[`  host: ${k}`] = v;
  }
  out['status seen by the bench (10 ms poll)'] = seenAt - prev;
  return out;
}

export type Breakdowns = Record<'uncached' | 'cached', Array<Record<string, number>>>;

/** The median of each step over the uncached and the cached starts, one row a step. */
export function printBreakdowns(breakdowns: Breakdowns): void {
  console.log('\nwhere the time goes (medians, ms; host steps are inside "host start")');
  const steps = [...new Set([...breakdowns.uncached, ...breakdowns.cached].flatMap((b) => Object.keys(b)))];
  const med = (kind: 'uncached' | 'cached', k: string) => {
    const xs = breakdowns[kind].map((b) => b[k]).filter((x): x is number => x !== undefined);
    return xs.length ? median(xs).toFixed(1).padStart(8) : '       -';
  };
  console.log(`${'step'.padEnd(44)} ${'uncached'.padStart(8)} ${'cached'.padStart(8)}`);
  for (const k of steps) console.log(`${k.padEnd(44)} ${med('uncached', k)} ${med('cached', k)}`);
}
