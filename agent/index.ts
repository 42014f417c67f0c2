/**
 * The node agent: the part of Gantry that runs on every node and makes the providers bound
 * to that node actually run.
 *
 *   Heartbeat         renews the Lease `gantry-agent-<node>` and publishes the target this
 *                     agent can load (`gantry.dev/target`), so the controller knows the node
 *                     has a live agent and what it may place there
 *   Informer          watches ProviderInstances labelled `gantry.dev/node=<node>` (all
 *                     namespaces), feeding keys to
 *   InstanceReconciler  level-triggered: desired instances vs running hosts → start / stop
 *   InstanceRunner    per instance: fetch (ArchiveCache) → verify (par) → extract
 *                     (BinaryStore) → ProviderHost → Running, or Failed with a reason
 *   ProviderHost      (agent/host) one supervised process per instance; it loads the library
 *                     and serves NATS itself, restarting with backoff after crashes, and is
 *                     killed (OOMKilled) past its instance's resources.memory
 *   HostPool          (agent/host/pool.ts) host processes started ahead of need, which a
 *                     starting instance claims; every host is forked through it, a few booting
 *                     at a time
 *   HostRecords       pids of the hosts this agent started, on disk; an agent that restarts
 *                     reaps the hosts its predecessor left behind before starting any, so an
 *                     instance never has two hosts
 *   AgentMetrics      Prometheus metrics, served with /healthz (event loop responsive) and
 *                     /readyz (cache synced, Lease renewed recently) on `metricsAddr`
 *
 * Everything lives under one cache dir: `archives/` (the digest cache), `binaries/` (libraries
 * named by sha256) and `hosts/` (the pid records). The agent refuses to start on a cache dir
 * not owned by its user or writable by group/others (CACHE_DIR_UNSAFE, agent/cache-dir.ts);
 * directories are 0700 and files 0600.
 *
 * Usage:
 *   const agent = await startAgent({ kubeConfig, node: 'node-1', natsUrl: 'nats://127.0.0.1:4222' });
 *   …
 *   await agent.stop();   // stops every host gracefully, then the watch and the heartbeat
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultNamespace, group, labels, version, parseDurationMs, parseMemoryQuantity, type ProviderInstance } from '../api/index.js';
import { Informer } from '../runtime/informer.js';
import { KubeClient, resourcePath, type KubeConfig } from '../runtime/kube.js';
import { logger } from '../runtime/log.js';
import { parseListenAddr, serveMetrics, type MetricsServer } from '../runtime/metrics-server.js';
import { ArchiveCache } from '../registry/index.js';
import { DEFAULT_LINK } from '../client/protocol.js';
import { ProviderHost } from './host/index.js';
import { DEFAULT_HOST_POOL_SIZE, HostPool, hostThreadpoolSize } from './host/pool.js';
import { DEFAULT_LIMITS } from './host/spec.js';
import type { NatsOptions } from './host/nats.js';
import { prepareBinary } from './archive-pipeline.js';
import { BinaryStore } from './binaries.js';
import { ensurePrivateCacheDir } from './cache-dir.js';
import { RegistryAccess } from './registry-access.js';
import { EventLoopWatch, readiness } from './health.js';
import { Heartbeat } from './heartbeat.js';
import { AgentMetrics } from './metrics.js';
import { HostRecords } from './host-records.js';
import type { InstanceRunner, StartTimeline } from './instance-runner.js';
import { instanceKey, InstanceReconciler } from './reconciler.js';
import { StatusWriter } from './status.js';
import { hostTarget, parseTarget } from './target.js';
import { UsageError } from '../runtime/errors.js';
import { instanceCreds } from './instance-creds.js';

export interface AgentOptions {
  kubeConfig: KubeConfig;
  /** The node this agent serves (NODE_NAME from the downward API in a DaemonSet). */
  node: string;
  natsUrl: string;
  /** NATS credentials and TLS beyond the URL, passed on to every provider host. */
  nats?: Omit<NatsOptions, 'servers'>;
  /** Where the Lease lives (default gantry-system). */
  namespace?: string;
  /** Default ~/.cache/gantry/agent-<node>. */
  cacheDir?: string;
  /** Account keys (A…) whose signatures this agent accepts, besides each instance's spec.issuers. */
  trustedIssuers?: string[];
  /** Registries (HOST:PORT) reachable only over plain HTTP. */
  plainHttpRegistries?: string[];
  /** Override the detected target, e.g. for a foreign-arch sandbox node. */
  target?: string;
  /** Archives larger than this are refused from their manifest, before a byte is read (default 256 MiB). */
  maxArchiveBytes?: number;
  /** Maximum bytes of the archive cache. */
  cacheMaxBytes?: number;
  /** Lease renewal period (default 10 s). /readyz fails once the last good renewal is 3 periods old. */
  renewIntervalMs?: number;
  /** HOST:PORT for /metrics, /healthz, /readyz (none when absent), as the controller's. */
  metricsAddr?: string;
  /** /healthz fails for twice this long after the event loop stalled longer than this (default 10 s). */
  maxEventLoopStallMs?: number;
  /**
   * The membrane: each host connects with its own instance's credentials, which the controller
   * writes to the Secret gantry-instance-<hash> in `namespace`; the agent reads it and hands
   * the host a 0600 creds file (instead of `nats` credentials).
   */
  membrane?: boolean;
  /**
   * Provider host processes kept started and idle for instances to claim (agent/host/pool.ts):
   * an instance then skips Node.js boot, most of its start. Each idle one costs ~20 MiB PSS.
   * Default 2; 0 forks every host on demand.
   */
  hostPoolSize?: number;
  /** How often each host's RSS is checked against its instance's resources.memory (default 250 ms). */
  memoryCheckMs?: number;
}

export interface Agent {
  readonly target: string;
  readonly node: string;
  /** Running host pids by instance key `ns/name` (for diagnostics and tests). */
  hosts(): Record<string, { uid: string; phase: string; pid?: number; restartCount: number; timeline: StartTimeline }>;
  /** Pids of the idle pooled hosts. */
  pooledHosts(): number[];
  /** Where /metrics is served, when metricsAddr was given. */
  readonly metricsUrl?: string;
  readonly metrics: AgentMetrics;
  stop(): Promise<void>;
}

export function defaultCacheDir(node: string): string {
  return process.env.GANTRY_CACHE_DIR ?? join(homedir(), '.cache', 'gantry', `agent-${node}`);
}

export async function startAgent(opts: AgentOptions): Promise<Agent> {
  if (!opts.node) throw new UsageError('AGENT_NO_NODE', 'gantry agent: a node name is required (--node or NODE_NAME)');
  if (!opts.natsUrl) throw new UsageError('AGENT_NO_NATS', 'gantry agent: a NATS URL is required (--nats)');
  if (opts.metricsAddr) parseListenAddr(opts.metricsAddr); // a usage error before anything starts
  const node = opts.node;
  const target = opts.target ? parseTarget(opts.target) : hostTarget();
  const namespace = opts.namespace ?? defaultNamespace;
  const cacheDir = opts.cacheDir ?? defaultCacheDir(node);
  const log = logger('agent', { node });
  // before anything is read from it: a cache others can write is a way to run their code
  ensurePrivateCacheDir(cacheDir);

  const kube = new KubeClient(opts.kubeConfig);
  const records = new HostRecords(join(cacheDir, 'hosts'));
  // before anything else: hosts left by a previous agent on this node must not keep serving
  const reaped = await records.reapAll();
  if (reaped.length)
    log.info({ hosts: reaped.map((r) => `${r.namespace}/${r.name}:${r.pid}`) }, 'stopped provider hosts left by a previous agent');

  // after the reaping: pooled hosts carry the same marker as the hosts a previous agent left
  const pool = new HostPool({
    size: opts.hostPoolSize ?? DEFAULT_HOST_POOL_SIZE,
    env: records.markerEnv(),
    threadpoolSize: hostThreadpoolSize(DEFAULT_LIMITS.maxHungCalls),
  });

  const binaries = new BinaryStore(join(cacheDir, 'binaries'));
  binaries.sweepTemporaries();
  const cache = new ArchiveCache(join(cacheDir, 'archives'), { maxBytes: opts.cacheMaxBytes, maxArchiveBytes: opts.maxArchiveBytes });
  const access = new RegistryAccess();
  const status = new StatusWriter(kube, log);
  let runners: () => Iterable<InstanceRunner> = () => [];
  const metrics = new AgentMetrics({ defaults: !!opts.metricsAddr, phases: () => [...runners()].map((r) => r.currentPhase) });
  const renewIntervalMs = opts.renewIntervalMs ?? 10_000;
  const heartbeat = new Heartbeat({
    kube,
    namespace,
    node,
    target,
    log,
    renewIntervalMs,
    onRenew: (ok) => (ok ? metrics.leaseLastRenew.set(Date.now() / 1000) : metrics.leaseRenewFailures.inc()),
  });

  /** instance uid → its host's creds file (membrane). */
  const hostCreds = new Map<string, string>();
  const informer = new Informer<ProviderInstance & { metadata: { name: string } }>({
    client: kube,
    path: resourcePath({ group, version, plural: 'providerinstances' }),
    labelSelector: `${labels.node}=${node}`,
    name: `providerinstances(node=${node})`,
  });

  const reconciler = new InstanceReconciler({
    node,
    get: (ns, name) => informer.get(name, ns),
    list: () => informer.list(),
    log,
    runnerDeps: {
      status,
      log,
      metrics,
      prepare: async (inst, onPhase, onStep) => {
        const binary = await prepareBinary(
          {
            kube,
            namespace,
            cache,
            binaries,
            access,
            target,
            trustedIssuers: opts.trustedIssuers ?? [],
            plainHttpRegistries: opts.plainHttpRegistries ?? [],
            maxArchiveBytes: opts.maxArchiveBytes,
            metrics,
          },
          inst,
          onPhase,
          onStep,
        );
        if (opts.membrane) hostCreds.set(inst.metadata.uid ?? '', await instanceCreds(kube, namespace, join(cacheDir, 'creds'), inst));
        return binary;
      },
      libraryIntact: (binary) => binaries.intact(binary.sha256),
      createHost: (inst, binary) => {
        // the API server checked the patterns (CRD); resources.* can only narrow the defaults' meaning
        const res = inst.spec.resources;
        const limits = {
          ...(res?.maxInFlight !== undefined ? { maxInFlight: res.maxInFlight } : {}),
          ...(res?.callTimeout !== undefined ? { callTimeoutMs: parseDurationMs(res.callTimeout) } : {}),
        };
        return new ProviderHost(
          {
            libraryPath: binary.libraryPath,
            librarySha256: binary.sha256,
            expectedCapid: binary.capid,
            namespace: inst.metadata.namespace ?? 'default',
            provider: inst.spec.provider,
            instance: inst.metadata.name,
            linkName: inst.spec.linkName ?? DEFAULT_LINK,
            config: inst.spec.config,
            nats: opts.membrane
              ? {
                  tls: opts.nats?.tls,
                  connectTimeoutMs: opts.nats?.connectTimeoutMs,
                  servers: opts.natsUrl,
                  credsFile: hostCreds.get(inst.metadata.uid ?? ''),
                }
              : { ...opts.nats, servers: opts.natsUrl },
            ...(Object.keys(limits).length ? { limits } : {}),
          },
          {
            env: records.markerEnv(),
            pool,
            ...(res?.memory !== undefined ? { memoryLimitBytes: parseMemoryQuantity(res.memory) } : {}),
            ...(opts.memoryCheckMs !== undefined ? { memoryCheckMs: opts.memoryCheckMs } : {}),
          },
        );
      },
      recordPid: (inst, pid) => {
        const uid = inst.metadata.uid ?? '';
        if (pid) records.write({ uid, namespace: inst.metadata.namespace ?? 'default', name: inst.metadata.name, pid });
        else records.remove(uid);
      },
    },
  });
  runners = () => reconciler.runners.values();
  const enqueue = (o: ProviderInstance) => reconciler.enqueue(instanceKey(o));
  informer.addHandler({ add: enqueue, update: enqueue, delete: enqueue });

  await heartbeat.start();
  await informer.start();
  pool.start();
  reconciler.start();

  let server: MetricsServer | undefined;
  let loopWatch: EventLoopWatch | undefined;
  if (opts.metricsAddr) {
    const maxStallMs = opts.maxEventLoopStallMs ?? 10_000;
    loopWatch = new EventLoopWatch({ maxStallMs, windowMs: 2 * maxStallMs });
    loopWatch.start();
    const ready = readiness({ synced: () => informer.hasSynced, lease: () => heartbeat, staleAfterMs: 3 * renewIntervalMs });
    const live = loopWatch.check.bind(loopWatch);
    try {
      server = await serveMetrics(opts.metricsAddr, metrics.registry, { ready, live });
    } catch (err) {
      // the port is taken or the address is bad: stop what started rather than leak it
      loopWatch.stop();
      await informer.stop();
      await reconciler.stop();
      await pool.stop();
      await heartbeat.stop();
      await status.close();
      kube.close();
      throw err;
    }
  }
  log.info({ target, namespace, cacheDir, metrics: server?.url }, 'agent started');

  let stopping: Promise<void> | undefined;
  return {
    target,
    node,
    metricsUrl: server?.url,
    metrics,
    hosts() {
      const out: ReturnType<Agent['hosts']> = {};
      for (const [k, r] of reconciler.runners)
        out[k] = { uid: r.ref.uid, phase: r.currentPhase, pid: r.pid, restartCount: r.restartCount, timeline: r.timeline };
      return out;
    },
    pooledHosts: () => pool.idlePids(),
    stop() {
      stopping ??= (async () => {
        await server?.close();
        loopWatch?.stop();
        await informer.stop();
        await reconciler.stop();
        await pool.stop();
        await heartbeat.stop();
        await status.close();
        kube.close();
        log.info('agent stopped');
      })();
      return stopping;
    },
  };
}
