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
import { createWriteStream, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { callProvider, CallError } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../../runtime/kube.js';
import { processesMarked } from '../../runtime/marked-processes.js';
import { HOST_RECORDS_ENV } from '../../agent/host-records.js';
import { DEFAULT_HOST_POOL_SIZE } from '../../agent/host/pool.js';
import { startSandbox, type Sandbox } from '../../sandbox/launcher/sandbox.js';
import { GANTRY_NAMESPACE } from '../../sandbox/launcher/cluster-objects.js';

export const FAULT_KINDS = ['host', 'agent', 'controller', 'nats', 'registry'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

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

export interface CallStats {
  sent: number;
  succeeded: number;
  failedByCode: Record<string, number>;
  /** Calls that succeeded only after retries. */
  retried: number;
  p50Ms: number;
  p99Ms: number;
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

const NS = 'chaos';
const PROVIDERS = ['echo', 'keyvalue'] as const;
const CALL_TIMEOUT_MS = 5000;

interface CallRecord {
  window: number;
  startMs: number;
  endMs: number;
  latencyMs: number;
  code: string;
  attempts: number;
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function stats(calls: CallRecord[]): CallStats {
  const failedByCode: Record<string, number> = {};
  const ok: number[] = [];
  let retried = 0;
  for (const c of calls) {
    if (c.code === 'OK') {
      ok.push(c.latencyMs);
      if (c.attempts > 1) retried++;
    } else failedByCode[c.code] = (failedByCode[c.code] ?? 0) + 1;
  }
  ok.sort((a, b) => a - b);
  return {
    sent: calls.length,
    succeeded: ok.length,
    failedByCode,
    retried,
    p50Ms: round(percentile(ok, 50)),
    p99Ms: round(percentile(ok, 99)),
  };
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The open-loop load: `rate` calls/s over several connections, each call recorded in the current window. */
class Load {
  readonly calls: CallRecord[] = [];
  window = 0;
  skipped = 0;
  private inFlight = 0;
  private issued = 0;
  private timer?: NodeJS.Timeout;
  private t0 = 0;
  private drained?: () => void;

  constructor(
    private conns: NatsConnection[],
    private rate: number,
    private maxInFlight: number,
  ) {}

  start(): void {
    this.t0 = performance.now();
    this.timer = setInterval(() => {
      const due = Math.floor(((performance.now() - this.t0) / 1000) * this.rate) - this.issued;
      for (let i = 0; i < due; i++) {
        this.issued++;
        if (this.inFlight >= this.maxInFlight) this.skipped++;
        else void this.one(this.issued);
      }
    }, 10);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    if (this.inFlight > 0) await new Promise<void>((r) => (this.drained = r));
  }

  private async one(i: number): Promise<void> {
    this.inFlight++;
    const window = this.window;
    const nc = this.conns[i % this.conns.length];
    const kind = i % 3;
    const data = kind === 0 ? `chaos ${i}` : kind === 1 ? JSON.stringify({ key: `k${i % 64}`, value: `v${i}` }) : '';
    const start = performance.now();
    let code = 'OK';
    let attempts = 1;
    try {
      const r = await callProvider(nc, {
        namespace: NS,
        provider: kind === 0 ? 'echo' : 'keyvalue',
        op: kind === 0 ? 'Echo' : kind === 1 ? 'Set' : 'Keys',
        data,
        // every operation here is idempotent: an attempt nobody answered (its host was killed
        // with it) is tried again after half the deadline
        timeoutMs: CALL_TIMEOUT_MS,
        retry: { retries: 20, baseDelayMs: 50, maxDelayMs: 500, attemptTimeoutMs: CALL_TIMEOUT_MS / 2 },
      });
      attempts = r.attempts;
      if (kind === 0 && Buffer.from(r.reply).toString('utf8') !== data) code = 'WRONG_REPLY';
    } catch (e) {
      code = e instanceof CallError ? e.code : 'ERROR';
      attempts = e instanceof CallError ? e.attempts : 1;
    }
    const end = performance.now();
    this.calls.push({ window, startMs: start - this.t0, endMs: end - this.t0, latencyMs: end - start, code, attempts });
    if (--this.inFlight === 0) this.drained?.();
  }

  /** Milliseconds since the load started. */
  now(): number {
    return performance.now() - this.t0;
  }
}

interface Observed {
  allReady: boolean;
  at: number;
}

/** Polls the cluster: Provider readiness, and the duplicate checks (API and processes). */
class Watcher {
  last: Observed = { allReady: false, at: 0 };
  readonly findings: string[] = [];
  duplicates = 0;
  private seen = new Set<string>();
  private suspect = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(
    private kube: KubeClient,
    private sb: Sandbox,
    private now: () => number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.poll()
        .catch(() => {})
        .finally(() => {
          this.busy = false;
        });
    }, 250);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async providers(): Promise<any[]> {
    return (await this.kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS }))).items;
  }

  async instances(): Promise<any[]> {
    return (await this.kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS })))
      .items;
  }

  private finding(key: string, text: string): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.duplicates++;
    this.findings.push(`${(this.now() / 1000).toFixed(1)} s: ${text}`);
  }

  private async poll(): Promise<void> {
    const [providers, instances] = await Promise.all([this.providers(), this.instances()]);
    const at = this.now();
    const ready =
      providers.length === PROVIDERS.length &&
      providers.every(
        (p) =>
          (p.status?.readyReplicas ?? 0) === p.spec.replicas &&
          p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'),
      );
    this.last = { allReady: ready, at };
    // two live instances of one Provider on one node
    const live = instances.filter((i) => !i.metadata.deletionTimestamp && i.status?.phase !== 'Terminating');
    const perNode = new Map<string, string[]>();
    for (const i of live) {
      const k = `${i.metadata.labels?.['gantry.dev/provider']}@${i.spec.nodeName}`;
      perNode.set(k, [...(perNode.get(k) ?? []), i.metadata.name]);
    }
    for (const [k, names] of perNode)
      if (names.length > 1)
        this.finding(`api:${names.sort().join(',')}`, `two live instances of ${k.replace('@', ' on ')}: ${names.join(', ')}`);
    // more host processes serving instances on a node than instances bound to it, or more idle
    // ones than the agent's pool keeps, three polls in a row (a host being replaced is briefly
    // counted with its successor only if the old one outlives a poll)
    for (const node of this.sb.nodes) {
      const { serving, idle } = hostsOn(this.sb.stateDir, node.name);
      const bound = instances.filter((i) => i.spec.nodeName === node.name && !i.metadata.deletionTimestamp).length;
      const key = node.name;
      if (serving.length > bound || idle.length > DEFAULT_HOST_POOL_SIZE) {
        const n = (this.suspect.get(key) ?? 0) + 1;
        this.suspect.set(key, n);
        if (n >= 3)
          this.finding(
            `proc:${node.name}:${Math.floor(at / 10_000)}`,
            `${serving.length} provider host processes serving on ${node.name} for ${bound} instances bound to it, ${idle.length} idle (pool keeps ${DEFAULT_HOST_POOL_SIZE})`,
          );
      } else this.suspect.delete(key);
    }
  }

  /** Host processes serving an instance on each node right now (idle pooled ones not counted). */
  hostCounts(): number[] {
    return this.sb.nodes.map((n) => hostsOn(this.sb.stateDir, n.name).serving.length);
  }
}

/**
 * The agent's provider host processes on a node (those carrying its records marker), split into
 * those recorded for an instance (agent/host-records.ts) and the rest: idle hosts in its pool
 * (agent/host/pool.ts), or strays. The record files are only read: the agent owns them.
 */
function hostsOn(stateDir: string, node: string): { serving: number[]; idle: number[] } {
  const dir = join(stateDir, 'cache', node, 'hosts');
  const recorded = new Set<number>();
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    // no host started yet
  }
  for (const f of files) {
    try {
      const pid = JSON.parse(readFileSync(join(dir, f), 'utf8')).pid;
      if (typeof pid === 'number') recorded.add(pid);
    } catch {
      // removed or being replaced (the agent writes temp + rename)
    }
  }
  const pids = processesMarked(HOST_RECORDS_ENV, dir);
  return { serving: pids.filter((p) => recorded.has(p)), idle: pids.filter((p) => !recorded.has(p)) };
}

async function leaseHolder(kube: KubeClient): Promise<{ holder?: string; renew: number }> {
  try {
    const l = await kube.get(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        plural: 'leases',
        namespace: GANTRY_NAMESPACE,
        name: 'gantry-controller',
      }),
    );
    return { holder: l?.spec?.holderIdentity, renew: Date.parse(l?.spec?.renewTime ?? '') };
  } catch {
    return { renew: NaN };
  }
}

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const downMs = o.downMs ?? 3000;
  const faults = o.faults ?? [...FAULT_KINDS];
  const recoveryTimeoutMs = o.recoveryTimeoutMs ?? 60_000;
  const stateDir = mkdtempSync(join(tmpdir(), 'gantry-chaos-'));
  const out = createWriteStream(join(stateDir, 'sandbox-output.log'));
  log(`chaos: starting a sandbox in ${stateDir} (3 nodes, 3 NATS servers, 2 controllers)`);
  const sb = await startSandbox({
    stateDir,
    nodes: '3',
    natsServers: 3,
    controllers: 2,
    skipExamples: true,
    out,
    leaderElection: o.leaderElection,
  });
  const kube = new KubeClient(loadKubeConfig({ kubeconfigPath: sb.kubeconfigPath }));
  const conns: NatsConnection[] = [];
  let load: Load | undefined;
  let watcher: Watcher | undefined;
  try {
    await kube
      .create(resourcePath({ version: 'v1', plural: 'namespaces' }), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })
      .catch(() => {});
    for (const name of PROVIDERS) {
      const a = sb.archives.find((x) => x.name === name);
      if (!a) throw new Error(`chaos: the sandbox published no ${name} archive`);
      await kube.create(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS }), {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'Provider',
        metadata: { name, namespace: NS },
        spec: { archive: { ref: a.ref }, replicas: sb.nodes.length },
      });
    }
    for (let i = 0; i < 3; i++) conns.push(await connectNats({ servers: sb.natsUrl, credsFile: sb.natsCreds, name: `chaos-load-${i}` }));
    load = new Load(conns, o.rate, o.maxInFlight ?? 4000);
    const l = load;
    watcher = new Watcher(kube, sb, () => l.now());
    const w = watcher;
    w.start();
    // all Ready before the load starts
    const readyBy = Date.now() + 120_000;
    while (!w.last.allReady) {
      if (Date.now() > readyBy)
        throw new Error('chaos: the Providers did not become Ready within 120 s; see the sandbox logs in ' + stateDir);
      await sleep(250);
    }
    const expectedHosts = w.hostCounts();
    log(
      `chaos: Providers Ready (${PROVIDERS.join(', ')} × ${sb.nodes.length}); load ${o.rate} calls/s for ${o.durationS} s; faults: ${faults.join(', ')}`,
    );
    l.start();

    const warm = Math.min(10_000, o.durationS * 100);
    const slot = (o.durationS * 1000 - warm) / Math.max(1, faults.length);
    const reports: Omit<FaultReport, keyof CallStats | 'lastFailureSeconds'>[] = [];
    for (let f = 0; f < faults.length; f++) {
      const at = warm + f * slot;
      while (l.now() < at) await sleep(50);
      const kind = faults[f];
      const node = sb.nodes[f % sb.nodes.length].name;
      const injectedAt = l.now();
      l.window = f + 1;
      let target = '';
      let restart: string | undefined;
      let failover: Promise<number | null> | undefined;
      const procs = sb.processes();
      const kill = (name: string) => {
        const pid = procs[name];
        if (pid === undefined) throw new Error(`chaos: ${name} is not running`);
        process.kill(pid, 'SIGKILL');
        return pid;
      };
      if (kind === 'host') {
        // a host serving an instance, not an idle one waiting in the agent's pool
        const pids = hostsOn(sb.stateDir, node).serving;
        if (!pids.length) throw new Error(`chaos: no provider host serves on ${node}`);
        process.kill(pids[0], 'SIGKILL');
        target = `provider host pid ${pids[0]} on ${node}`;
      } else if (kind === 'agent') {
        restart = `agent-${node}`;
        target = `${restart} pid ${kill(restart)}`;
      } else if (kind === 'controller') {
        // the sandbox's controllers lead as <name>-<pid> (sandbox/launcher/controller-main.ts)
        const { holder } = await leaseHolder(kube);
        const name = holder?.replace(/-\d+$/, '');
        if (!holder || !name || procs[name] === undefined || holder !== `${name}-${procs[name]}`)
          throw new Error(`chaos: the leader Lease names ${holder ?? 'nobody'}, not one of the sandbox's running controllers`);
        restart = name;
        const killedAt = Date.now();
        target = `leader ${name} pid ${kill(name)}`;
        failover = (async () => {
          while (Date.now() - killedAt < recoveryTimeoutMs) {
            const now = await leaseHolder(kube);
            if (now.holder && now.holder !== holder) return (Date.now() - killedAt) / 1000;
            await sleep(100);
          }
          return null;
        })();
      } else if (kind === 'nats') {
        // the server the first load connection is on: its callers must fail over
        const port = conns[0].getServer().split(':').pop();
        const i = Math.max(
          0,
          sb.natsUrls.findIndex((u) => u.endsWith(`:${port}`)),
        );
        restart = i === 0 ? 'nats-server' : `nats-server-${i + 1}`;
        target = `${restart} pid ${kill(restart)} (load connection 1 was on it)`;
      } else {
        restart = 'docker-registry';
        target = `${restart} pid ${kill(restart)}`;
      }
      log(`chaos: ${(injectedAt / 1000).toFixed(1)} s  fault ${f + 1}/${faults.length}: killed ${target}`);
      if (restart) {
        await sleep(downMs);
        await sb.restart(restart);
      }
      // recovered: every Provider Ready with all replicas, seen by a poll after the restart,
      // and every node back to its host processes
      const since = l.now();
      let recoverySeconds: number | null = null;
      const until = Date.now() + recoveryTimeoutMs;
      while (Date.now() < until) {
        const counts = w.hostCounts();
        if (w.last.at > since && w.last.allReady && counts.every((c, k) => c === expectedHosts[k])) {
          recoverySeconds = round((w.last.at - injectedAt) / 1000, 2);
          break;
        }
        await sleep(100);
      }
      const failoverSeconds = failover ? await failover : undefined;
      log(
        `chaos:   recovered in ${recoverySeconds ?? `more than ${recoveryTimeoutMs / 1000}`} s${failoverSeconds !== undefined ? `; leader failover ${failoverSeconds ?? 'none'} s` : ''}`,
      );
      reports.push({
        fault: kind,
        target,
        atSeconds: round(injectedAt / 1000, 2),
        recoverySeconds,
        ...(failover ? { failoverSeconds: failoverSeconds ?? null } : {}),
      });
    }
    while (l.now() < o.durationS * 1000) await sleep(50);
    await l.stop();
    w.stop();

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
    const faultReports: FaultReport[] = reports.map((r, k) => {
      const mine = l.calls.filter((c) => c.window === k + 1);
      const failures = mine.filter((c) => c.code !== 'OK');
      const last = failures.length ? Math.max(...failures.map((c) => c.endMs)) : undefined;
      return { ...r, ...stats(mine), lastFailureSeconds: last === undefined ? 0 : round(last / 1000 - r.atSeconds, 2) };
    });
    const recoveries = faultReports.map((r) => r.recoverySeconds);
    return {
      ...total,
      durationSeconds: round(l.now() / 1000, 1),
      rate: o.rate,
      skipped: l.skipped,
      successRatio: total.sent ? total.succeeded / total.sent : 0,
      faults: faultReports,
      maxRecoverySeconds: recoveries.some((r) => r === null) ? null : Math.max(0, ...(recoveries as number[])),
      duplicates: w.duplicates,
      lost,
      findings,
    };
  } finally {
    watcher?.stop();
    await load?.stop().catch(() => {});
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    kube.close();
    await sb.stop();
    out.end();
    if (!o.keepStateDir) rmSync(stateDir, { recursive: true, force: true });
  }
}
