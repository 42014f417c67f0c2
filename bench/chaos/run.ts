/**
 * The chaos run: what callers see while parts of Gantry die under steady traffic.
 *
 * It starts its own sandbox (3 nodes, a NATS cluster of 3 servers, 2 controllers under leader
 * election, the docker registry), applies two Providers spread over the nodes (echo and
 * keyvalue, one instance per node), and drives an open-loop load over three caller
 * connections (each given all NATS URLs) at `rate` calls/s: Echo, keyvalue Set and Keys in
 * turn, with the client retry policy (client/call.ts) inside a 5 s deadline, 2.5 s per attempt
 * (all three operations are idempotent). On a schedule it
 * kills, one at a time, with SIGKILL:
 *   host        a provider host process (its agent restarts it)
 *   agent       a node's agent (restarted after `downMs`, as a DaemonSet would; its hosts
 *               are left behind for the new agent to adopt or reap)
 *   controller  the controller holding the leader Lease (the standby takes over; the killed
 *               one is restarted after `downMs` and stands by)
 *   nats        one NATS server of the three (restarted after `downMs`)
 *   registry    the registry (restarted after `downMs`)
 * and waits until the part is back and every Provider is Ready with all its replicas.
 *
 * Measured per fault (the window from the fault to the next) and overall: calls sent,
 * succeeded, failed by code, p50/p99 latency, calls that needed retries; the time until every
 * Provider was Ready again (and the part running again); the time of the last failed call
 * after the fault; for the controller the failover time (until the standby held the Lease).
 * Watched all along (every 250 ms): no Provider ever has two live instances on one node, and
 * no node runs more provider host processes than it has instances (a host the killed agent
 * left behind that nobody reaped would be serving calls twice). At the end no instance is lost:
 * every Provider has all its replicas Running.
 *
 * Usage: `const report = await runChaos({ durationS: 120, rate: 1000 });` (bench/chaos/main.ts
 * is `npm run chaos`).
 */
import { FAULT_KINDS, type FaultKind, injectFault } from './faults.js';
import { type CallRecord, type CallStats, Load, round, sleep, stats } from './load.js';
import { applyProviders, PROVIDERS, type Scenario, startScenario, stopScenario } from './scenario.js';
import { Watcher } from './watch.js';

export { FAULT_KINDS, type FaultKind } from './faults.js';
export type { CallStats } from './load.js';

export interface ChaosOptions {
  /** Seconds of load (the run lasts longer when recoveries need it). */
  durationS: number;
  /** Calls per second, spread evenly. */
  rate: number;
  /** How long a killed part stays down before it is restarted (default 3000 ms). */
  downMs?: number;
  /** Calls in flight at most; beyond it a due call is skipped and counted (default 4000). */
  maxInFlight?: number;
  /** Which faults, in order (default all five). */
  faults?: FaultKind[];
  /** How long to wait for recovery after a fault before calling it failed (default 60 s). */
  recoveryTimeoutMs?: number;
  /** Progress lines (people read them). */
  log?: (line: string) => void;
  /** Keep the sandbox's state dir (default: removed after the run). */
  keepStateDir?: boolean;
  /** Leader election of the two controllers (default the controller's 15 s / 10 s / 2 s). */
  leaderElection?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
}

export interface FaultReport extends CallStats {
  fault: FaultKind;
  target: string;
  /** Seconds since the load started. */
  atSeconds: number;
  /** From the fault until every Provider was Ready again and the part ran again; null if not within the timeout. */
  recoverySeconds: number | null;
  /** From the fault until the last call that failed in its window (0: none failed). */
  lastFailureSeconds: number;
  /** controller: from the kill until the standby held the leader Lease. */
  failoverSeconds?: number | null;
}

export interface ChaosReport extends CallStats {
  durationSeconds: number;
  rate: number;
  /** Due calls not sent because maxInFlight calls were outstanding. */
  skipped: number;
  successRatio: number;
  faults: FaultReport[];
  maxRecoverySeconds: number | null;
  duplicates: number;
  lost: number;
  /** What the duplicate and loss checks saw, for people. */
  findings: string[];
}

/** A fault's report before its window's calls are counted. */
type FaultOutcome = Omit<FaultReport, keyof CallStats | 'lastFailureSeconds'>;

/** The options a fault reads, defaults filled in. */
interface FaultPlan {
  log: (line: string) => void;
  downMs: number;
  faults: FaultKind[];
  recoveryTimeoutMs: number;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const faults = o.faults ?? [...FAULT_KINDS];
  const plan: FaultPlan = { log, downMs: o.downMs ?? 3000, faults, recoveryTimeoutMs: o.recoveryTimeoutMs ?? 60_000 };
  const s = await startScenario({ log, leaderElection: o.leaderElection });
  let load: Load | undefined;
  let watcher: Watcher | undefined;
  try {
    await applyProviders(s);
    load = new Load(s.conns, o.rate, o.maxInFlight ?? 4000);
    const l = load;
    watcher = new Watcher(s.kube, s.sb, () => l.now());
    const w = watcher;
    w.start();
    await allReady(w, s.stateDir);
    const expectedHosts = w.hostCounts();
    log(
      `chaos: Providers Ready (${PROVIDERS.join(', ')} × ${s.sb.nodes.length}); load ${o.rate} calls/s for ${o.durationS} s; faults: ${faults.join(', ')}`,
    );
    l.start();

    const warm = Math.min(10_000, o.durationS * 100);
    const slot = (o.durationS * 1000 - warm) / Math.max(1, faults.length);
    const reports: FaultOutcome[] = [];
    for (let f = 0; f < faults.length; f++) {
      const at = warm + f * slot;
      while (l.now() < at) await sleep(50);
      reports.push(await runFault(plan, s, l, w, f, expectedHosts));
    }
    while (l.now() < o.durationS * 1000) await sleep(50);
    await l.stop();
    w.stop();
    return await report(o.rate, l, w, reports);
  } finally {
    watcher?.stop();
    await load?.stop().catch(() => {});
    await stopScenario(s, o.keepStateDir);
  }
}

/** All Ready before the load starts. */
async function allReady(w: Watcher, stateDir: string): Promise<void> {
  const readyBy = Date.now() + 120_000;
  while (!w.last.allReady) {
    if (Date.now() > readyBy)
      throw new Error('chaos: the Providers did not become Ready within 120 s; see the sandbox logs in ' + stateDir);
    await sleep(250);
  }
}

/** Fault number `f` (0-based): inject it, restart the part after the down time, time the recovery. */
async function runFault(plan: FaultPlan, s: Scenario, l: Load, w: Watcher, f: number, expectedHosts: number[]): Promise<FaultOutcome> {
  const { log, downMs, faults, recoveryTimeoutMs } = plan;
  const kind = faults[f];
  const node = s.sb.nodes[f % s.sb.nodes.length].name;
  const injectedAt = l.now();
  l.window = f + 1;
  const { target, restart, failover } = await injectFault(kind, node, s, recoveryTimeoutMs);
  log(`chaos: ${(injectedAt / 1000).toFixed(1)} s  fault ${f + 1}/${faults.length}: killed ${target}`);
  if (restart) {
    await sleep(downMs);
    await s.sb.restart(restart);
  }
  const recoverySeconds = await recovery(w, l.now(), injectedAt, expectedHosts, recoveryTimeoutMs);
  const failoverSeconds = failover ? await failover : undefined;
  log(
    `chaos:   recovered in ${recoverySeconds ?? `more than ${recoveryTimeoutMs / 1000}`} s${failoverSeconds !== undefined ? `; leader failover ${failoverSeconds ?? 'none'} s` : ''}`,
  );
  return {
    fault: kind,
    target,
    atSeconds: round(injectedAt / 1000, 2),
    recoverySeconds,
    ...(failover ? { failoverSeconds: failoverSeconds ?? null } : {}),
  };
}

/**
 * Recovered: every Provider Ready with all replicas, seen by a poll after `since` (the
 * restart), and every node back to its host processes; seconds since the fault, or null.
 */
async function recovery(w: Watcher, since: number, injectedAt: number, expectedHosts: number[], timeoutMs: number): Promise<number | null> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const counts = w.hostCounts();
    if (w.last.at > since && w.last.allReady && counts.every((c, k) => c === expectedHosts[k]))
      return round((w.last.at - injectedAt) / 1000, 2);
    await sleep(100);
  }
  return null;
}

/** The report: the calls of each fault's window and overall, and that nothing was lost. */
async function report(rate: number, l: Load, w: Watcher, reports: FaultOutcome[]): Promise<ChaosReport> {
  // nothing lost: every Provider has all its replicas Running, on distinct nodes
  const findings = [...w.findings];
  let lost = 0;
  const instances = await w.instances();
  for (const p of await w.providers()) {
    const running = instances.filter(
      (i) =>
        i.metadata.labels?.['gantry.dev/provider'] === p.metadata.name && i.status?.phase === 'Running' && !i.metadata.deletionTimestamp,
    );
    const missing = Math.max(0, p.spec.replicas - running.length);
    if (missing) findings.push(`end: ${p.metadata.name} has ${running.length} of ${p.spec.replicas} replicas Running`);
    lost += missing;
  }
  const total = stats(l.calls);
  const faults = faultReports(l.calls, reports);
  const recoveries = faults.map((r) => r.recoverySeconds);
  return {
    ...total,
    durationSeconds: round(l.now() / 1000, 1),
    rate,
    skipped: l.skipped,
    successRatio: total.sent ? total.succeeded / total.sent : 0,
    faults,
    maxRecoverySeconds: recoveries.some((r) => r === null) ? null : Math.max(0, ...(recoveries as number[])),
    duplicates: w.duplicates,
    lost,
    findings,
  };
}

/** Calls per fault window, and when the last failed one ended after its fault. */
function faultReports(calls: CallRecord[], reports: FaultOutcome[]): FaultReport[] {
  return reports.map((r, k) => {
    const mine = calls.filter((c) => c.window === k + 1);
    const failures = mine.filter((c) => c.code !== 'OK');
    const last = failures.length ? Math.max(...failures.map((c) => c.endMs)) : undefined;
    return { ...r, ...stats(mine), lastFailureSeconds: last === undefined ? 0 : round(last / 1000 - r.atSeconds, 2) };
  });
}
