/**
 * `npm run chaos [-- --duration S] [--rate N] [--json] [--down-ms MS] [--faults host,agent,…]`:
 * the chaos run of bench/chaos/run.ts with a printed report. Not part of `npm test` (a
 * short run is: test/chaos/chaos.test.ts) nor of `npm run bench` (it lives in a subfolder).
 * Defaults: 120 s at 1,000 calls/s, all five fault kinds. With --json the last line printed
 * is one JSON object (sent, succeeded, failedByCode, p50Ms, p99Ms, maxRecoverySeconds,
 * duplicates, lost, faults, …). Exits 1 when a check fails (a duplicate, a lost instance, a
 * fault not recovered from).
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { FAULT_KINDS, runChaos, type CallStats, type FaultKind } from './run.js';
import { setLogLevel } from '../../runtime/log.js';

// the report is the point: the in-process parts' info logs (archive pushes) only interleave with it
if (!process.env.GANTRY_LOG_LEVEL) setLogLevel('warn');

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '120' },
    rate: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
    'down-ms': { type: 'string', default: '3000' },
    faults: { type: 'string', default: FAULT_KINDS.join(',') },
  },
});

function positive(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`chaos: ${flag} must be a positive number, got "${v}"\n`);
    process.exit(2);
  }
  return n;
}
const durationS = positive(values.duration!, '--duration');
const rate = positive(values.rate!, '--rate');
const downMs = positive(values['down-ms']!, '--down-ms');
const faults = values.faults!.split(',').filter(Boolean) as FaultKind[];
for (const f of faults) {
  if (!(FAULT_KINDS as readonly string[]).includes(f)) {
    process.stderr.write(`chaos: unknown fault "${f}" (have ${FAULT_KINDS.join(', ')})\n`);
    process.exit(2);
  }
}

const say = (s: string) => process.stdout.write(s + '\n');
const line = (s: CallStats) => {
  const failed =
    Object.entries(s.failedByCode)
      .map(([c, n]) => `${c} ${n}`)
      .join(', ') || 'none';
  return `sent ${s.sent}, succeeded ${s.succeeded} (${s.sent ? ((100 * s.succeeded) / s.sent).toFixed(3) : '0'} %), failed: ${failed}; retried-then-ok ${s.retried}; p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms`;
};

const loadBefore = loadavg();
const report = await runChaos({ durationS, rate, downMs, faults, log: say });
const loadAfter = loadavg();
say('');
say(`chaos run: ${report.durationSeconds} s at ${report.rate} calls/s (skipped for too many in flight: ${report.skipped})`);
for (const f of report.faults) {
  say(`  ${f.fault.padEnd(10)} at ${f.atSeconds} s, killed ${f.target}`);
  say(`             ${line(f)}`);
  say(
    `             every Provider Ready again after ${f.recoverySeconds ?? 'NOT within the timeout'} s; last failed call ${f.lastFailureSeconds} s after the fault${f.failoverSeconds !== undefined ? `; controller failover ${f.failoverSeconds ?? 'did not happen'} s` : ''}`,
  );
}
say(`  overall    ${line(report)}`);
say(`  max recovery ${report.maxRecoverySeconds ?? 'NOT within the timeout'} s; duplicates ${report.duplicates}; lost ${report.lost}`);
for (const f of report.findings) say(`  ! ${f}`);
say(`  load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${loadAfter.map((x) => x.toFixed(2)).join(' ')}`);
if (values.json) say(JSON.stringify({ ...report, loadAverage: { before: loadBefore, after: loadAfter } }));
process.exit(report.duplicates || report.lost || report.maxRecoverySeconds === null ? 1 : 0);
