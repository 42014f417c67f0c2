/**
 * The node agent: the part of Gantry that runs on every node and makes the providers bound
 * to that node actually run.
 *
 *   Heartbeat         renews the Lease `gantry-agent-<node>` and publishes the target this
 *                     agent can load (`gantry.dev/target`) and how many instances it runs at
 *                     most (`gantry.dev/max-instances`), so the controller knows the node has
 *                     a live agent and what it may place there
 *   Informer          watches ProviderInstances labelled `gantry.dev/node=<node>` (all
 *                     namespaces), feeding keys to
 *   InstanceReconciler  level-triggered, on the shared work queue: desired instances vs
 *                     running hosts → start / stop, at most `maxInstances` (agent/admission.ts)
 *   InstanceRunner    per instance: fetch (ArchiveCache) → verify (par) → extract
 *                     (BinaryStore) → ProviderHost → Running, or Failed with a reason
 *                     (agent/runner-deps.ts: what it works with on a node)
 *   ProviderHost      (agent/host) one supervised process per instance; it loads the library
 *                     and serves NATS itself, restarting with backoff after crashes, and is
 *                     killed (OOMKilled) past its instance's resources.memory
 *   HostPool          (agent/host/pool.ts) host processes started ahead of need, which a
 *                     starting instance claims; every host is forked through it, a few booting
 *                     at a time (agent/host-factory.ts)
 *   HostRecords       pids of the hosts this agent started, on disk; an agent that restarts
 *                     reaps the hosts its predecessor left behind before starting any, so an
 *                     instance never has two hosts (agent/node-cache.ts)
 *   AgentMetrics      Prometheus metrics, served with /healthz (event loop responsive) and
 *                     /readyz (cache synced, Lease renewed recently) on `metricsAddr`
 *
 * Everything lives under one cache dir: `archives/` (the digest cache), `binaries/` (libraries
 * named by sha256) and `hosts/` (the pid records). The agent refuses to start on a cache dir
 * not owned by its user or writable by group/others (CACHE_DIR_UNSAFE, agent/cache-dir.ts);
 * directories are 0700 and files 0600.
 *
 * This file only wires the parts and runs them: start (heartbeat, cache, pool, reconciler,
 * then the metrics server) and stop (stop serving, stop watching, drain: every host stopped
 * gracefully, then the heartbeat and the last status writes).
 *
 * Usage:
 *   const agent = await startAgent({ kubeConfig, node: 'node-1', natsUrl: 'nats://127.0.0.1:4222' });
 *   …
 *   await agent.stop();   // stops every host gracefully, then the watch and the heartbeat
 */
import { join } from 'node:path';
import { group, labels, type ProviderInstance, version } from '../api/index.js';
import { Informer } from '../runtime/informer.js';
import { KubeClient, resourcePath } from '../runtime/kube.js';
import { type Logger, logger } from '../runtime/log.js';
import { MemoryCgroupParent } from './host/memory-cgroup-dir.js';
import type { HostPool } from './host/pool.js';
import { createHostPool, keeperHostFactory, providerHostFactory } from './host-factory.js';
import { KeeperClient } from './keeper/client.js';
import { type HealthServer, serveHealth } from './health.js';
import { Heartbeat } from './heartbeat.js';
import { nodeSealKey } from './seal-key.js';
import type { HostCredentialsSource, StartTimeline } from './instance-runner.js';
import { registerTrustMetrics } from '../runtime/trust-metrics.js';
import { AgentMetrics } from './metrics.js';
import { openNodeCache } from './node-cache.js';
import { type AgentOptions, type AgentSettings, agentSettings } from './options.js';
import { InstanceReconciler, instanceKey } from './reconciler.js';
import { agentRunnerDeps } from './runner-deps.js';
import { AgentTrust } from './trust-follow.js';
import { StatusWriter } from './status.js';

export { type AgentOptions, defaultCacheDir } from './options.js';

export interface Agent {
  readonly target: string;
  readonly node: string;
  /** The cap on running instances (--max-instances or the default), as published on the Lease. */
  readonly maxInstances: number;
  /** Running host pids by instance key `ns/name` (for diagnostics and tests). */
  hosts(): Record<string, { uid: string; phase: string; pid?: number; restartCount: number; timeline: StartTimeline }>;
  /** Pids of the idle pooled hosts. */
  pooledHosts(): number[];
  /** What caps hosts' memory: `memory cgroup v1 under DIR` (--host-cgroup) or `RSS polling every N ms`. */
  readonly memoryEnforcement: string;
  /** Where /metrics is served, when metricsAddr was given. */
  readonly metricsUrl?: string;
  readonly metrics: AgentMetrics;
  /** Resolves (with why) when the agent cannot go on: its host keeper went away. Never resolves without a keeper. */
  readonly lost: Promise<string>;
  /** Stops the agent; with a host keeper its hosts keep serving, for the next agent to adopt. */
  stop(): Promise<void>;
}

type InstanceInformer = Informer<ProviderInstance & { metadata: { name: string } }>;

/**
 * How long a stopping agent that leaves its hosts to the keeper asks the controller to wait for
 * its successor (a DaemonSet pod replaced: 8–20 s measured on the real cluster, more with an
 * image pull) before calling the node lost.
 */
const HANDOVER_MS = 60_000;

/** The running parts, in the order they start. */
interface AgentParts {
  kube: KubeClient;
  heartbeat: Heartbeat;
  informer: InstanceInformer;
  pool: HostPool;
  reconciler: InstanceReconciler;
  status: StatusWriter;
  keeper?: KeeperClient;
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  const settings = agentSettings(opts); // usage errors before anything starts
  const memoryCgroup =
    opts.hostCgroup === undefined || opts.hostKeeper ? undefined : MemoryCgroupParent.open(opts.hostCgroup, settings.node);
  const { node, target, namespace } = settings;
  const log = logger('agent', { node });
  const cache = await openNodeCache(settings.cacheDir, opts, log);
  const memoryEnforcement = memoryCap(opts, memoryCgroup, log);
  const kube = new KubeClient(opts.kubeConfig);
  const trust = opts.trustConfigMap && new AgentTrust(kube, opts.trustConfigMap, log);
  // hosts in the node's keeper: no pool here (the keeper has its own), and the hosts it runs are adopted
  const keeper = opts.hostKeeper ? await KeeperClient.connect(opts.hostKeeper, node, log) : undefined;
  const pool = createHostPool(cache.records, keeper ? 0 : opts.hostPoolSize);
  const status = new StatusWriter(kube, log);
  const metrics = new AgentMetrics({ defaults: !!opts.metricsAddr, phases: () => reconciler.phases() });
  metrics.memoryCgroup.set(memoryCgroup ? 1 : 0);
  if (trust) registerTrustMetrics(metrics.registry, trust.watch);
  const sealKey = nodeSealKey(join(settings.cacheDir, 'seal.xk'));
  const heartbeat = agentHeartbeat(kube, { ...settings, sealKey: sealKey.getPublicKey() }, metrics, log);
  const informer = instanceInformer(kube, node);
  const createHost = keeper
    ? keeperHostFactory(opts, keeper, metrics.calls)
    : providerHostFactory(opts, cache.records, pool, memoryCgroup, metrics.calls, cache.sealed);
  const runnerDeps = agentRunnerDeps(opts, {
    kube,
    credentialsNamespace: settings.credentialsNamespace,
    target,
    cache,
    sealKey,
    createHost,
    status,
    metrics,
    log,
    trust,
    current: (ns, name) => informer.get(name, ns),
    adoptable: keeper ? (uid) => keeper.found.some((h) => h.uid === uid && h.state === 'ready') : undefined,
  });
  const reconciler = new InstanceReconciler({
    node,
    get: (ns, name) => informer.get(name, ns),
    list: () => informer.list(),
    maxInstances: settings.maxInstances,
    log,
    runnerDeps,
  });
  feedFromInformer(informer, reconciler, runnerDeps.credentials);

  const parts: AgentParts = { kube, heartbeat, informer, pool, reconciler, status, keeper };
  await trust?.start(); // instances start under the policy in force, never before it is read
  trust?.follow(() => reconciler.runners.values());
  await startParts(parts);
  if (keeper) await sweepKeeper(keeper, reconciler, log);
  const health = opts.metricsAddr ? await serveAgentHealth(opts.metricsAddr, opts, settings, metrics, parts) : undefined;
  log.info({ target, namespace, cacheDir: settings.cacheDir, metrics: health?.url }, 'agent started');

  let stopping: Promise<void> | undefined;
  return {
    lost: keeperLost(keeper),
    target,
    node,
    maxInstances: settings.maxInstances,
    memoryEnforcement,
    metricsUrl: health?.url,
    metrics,
    hosts: () => hostsByInstance(reconciler),
    pooledHosts: () => pool.idlePids(),
    stop() {
      stopping ??= (async () => {
        await health?.close();
        await trust?.stop();
        await stopParts(parts);
        cache.sealed.close(); // the hosts still running keep their own descriptors
        log.info('agent stopped');
      })();
      return stopping;
    },
  };
}

/** Instance changes reach the reconciler; a host JWT the controller signed reaches the host identity waiting for it (agent/host-identity.ts). */
function feedFromInformer(informer: InstanceInformer, reconciler: InstanceReconciler, credentials?: HostCredentialsSource): void {
  const enqueue = (o: ProviderInstance) => reconciler.enqueue(instanceKey(o));
  informer.addHandler({ add: enqueue, update: enqueue, delete: enqueue });
  if (credentials) informer.addHandler({ add: (i) => credentials.observe(i), update: (i) => credentials.observe(i) });
}

/**
 * Resolves when the keeper is gone and its hosts with it: this agent's view of them is wrong, so
 * it ends (its restart meets the next keeper with nothing to adopt). Never without a keeper.
 */
function keeperLost(keeper: KeeperClient | undefined): Promise<string> {
  return new Promise<string>((resolve) => keeper?.once('lost', () => resolve('the host keeper went away, and its hosts with it')));
}

/** What caps hosts' memory, said once (without a cgroup a burst allocation lands before the next poll sees it). */
function memoryCap(opts: AgentOptions, memoryCgroup: MemoryCgroupParent | undefined, log: Logger): string {
  if (opts.hostKeeper) return 'the host keeper (its --host-cgroup, or RSS polling)';
  const memoryEnforcement = memoryCgroup?.describe() ?? `RSS polling every ${opts.memoryCheckMs ?? 250} ms`;
  const swept = memoryCgroup?.sweep() ?? []; // after the reaping: cgroups of hosts no longer running
  if (memoryCgroup) log.info({ swept }, `hosts' resources.memory enforced by the kernel: ${memoryEnforcement}`);
  else log.warn(`hosts' resources.memory enforced by ${memoryEnforcement} (no --host-cgroup): a burst between two polls is not stopped`);
  return memoryEnforcement;
}

/** /metrics, /healthz, /readyz; when the port is taken or the address is bad, stop what started rather than leak it. */
async function serveAgentHealth(
  addr: string,
  opts: AgentOptions,
  settings: AgentSettings,
  metrics: AgentMetrics,
  parts: AgentParts,
): Promise<HealthServer> {
  try {
    return await serveHealth({
      addr,
      registry: metrics.registry,
      maxEventLoopStallMs: opts.maxEventLoopStallMs,
      synced: () => parts.informer.hasSynced,
      lease: () => parts.heartbeat,
      renewIntervalMs: settings.renewIntervalMs,
    });
  } catch (err) {
    await stopParts(parts);
    throw err;
  }
}

function agentHeartbeat(kube: KubeClient, s: AgentSettings & { sealKey: string }, metrics: AgentMetrics, log: Logger): Heartbeat {
  return new Heartbeat({
    kube,
    namespace: s.namespace,
    node: s.node,
    target: s.target,
    sealKey: s.sealKey,
    maxInstances: s.maxInstances,
    log,
    renewIntervalMs: s.renewIntervalMs,
    onRenew: (ok) => (ok ? metrics.leaseLastRenew.set(Date.now() / 1000) : metrics.leaseRenewFailures.inc()),
  });
}

/** ProviderInstances bound to this node, in every namespace. */
function instanceInformer(kube: KubeClient, node: string): InstanceInformer {
  return new Informer({
    client: kube,
    path: resourcePath({ group, version, plural: 'providerinstances' }),
    labelSelector: `${labels.node}=${node}`,
    name: `providerinstances(node=${node})`,
  });
}

/** The Lease first (the controller sees a live agent), then the cache, the pool, and the reconciler works it. */
async function startParts(p: AgentParts): Promise<void> {
  await p.heartbeat.start();
  await p.informer.start();
  p.pool.start();
  p.reconciler.start();
}

/**
 * Stop watching, then the drain: the reconciler finishes its work in progress and stops every
 * host gracefully, the pool its idle hosts; last the Lease renewals and the status writes still
 * queued (bounded), and the API connection.
 */
async function stopParts(p: AgentParts): Promise<void> {
  await p.informer.stop();
  // hosts left to a keeper that still runs them: give the successor time to adopt them
  const handingOver = p.keeper !== undefined && !p.keeper.wasLost;
  p.keeper?.detach();
  await p.reconciler.stop(!!p.keeper);
  p.keeper?.close();
  await p.pool.stop();
  await (handingOver ? p.heartbeat.handOver(HANDOVER_MS) : p.heartbeat.stop());
  await p.status.close();
  p.kube.close();
}

/**
 * Hosts the keeper runs that no runner of this agent will adopt are stopped once the reconciler's
 * first pass is done: their instance was deleted or moved while no agent ran, or it is still bound
 * here but waits under --max-instances (lowered across the restart), so nothing would ever claim
 * its host. The hosts of the runners just started are adopted by them.
 */
async function sweepKeeper(keeper: KeeperClient, reconciler: InstanceReconciler, log: Logger): Promise<void> {
  await reconciler.idle();
  const running = new Set([...reconciler.runners.values()].map((r) => r.ref.uid));
  const stopped = await keeper.sweep((uid) => running.has(uid));
  if (stopped.length) log.info({ stopped: stopped.length }, 'stopped hosts no instance running on this node claims');
}

function hostsByInstance(reconciler: InstanceReconciler): ReturnType<Agent['hosts']> {
  const out: ReturnType<Agent['hosts']> = {};
  for (const [k, r] of reconciler.runners)
    out[k] = { uid: r.ref.uid, phase: r.currentPhase, pid: r.pid, restartCount: r.restartCount, timeline: r.timeline };
  return out;
}
