/**
 * The Gantry controller: watches Providers, ProviderInstances, Nodes and agent Leases, and
 * — while it holds the leader Lease — reconciles every Provider through one work queue
 * (provider-reconciler.ts). Informers run on standbys too, so a takeover starts from warm
 * caches. Time-based facts (an agent Lease expiring, a progress deadline) re-enqueue through
 * timers, since no watch event announces them.
 *
 *   const c = await startController({ kubeConfig, namespace: 'gantry-system' });
 *   c.isLeader(); await c.stop();
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { group, version, labels, defaultNamespace, agentLeaseName, nodeOfAgentLease, type Provider, type ProviderInstance } from '../api/index.js';
import { KubeClient, type KubeConfig, type RequestOptions } from '../runtime/kube.js';
import { Informer } from '../runtime/informer.js';
import { parseListenAddr } from '../runtime/metrics-server.js';
import { logger } from '../runtime/log.js';
import { EventRecorder } from './events.js';
import { LeaderElector } from './leader.js';
import { ControllerMetrics, serveMetrics, type MetricsServer } from './metrics.js';
import { reconcileProvider } from './provider-reconciler.js';
import { CachingResolver, type ArchiveResolver } from './resolve.js';
import { registryResolver } from './registry-resolver.js';
import { leaseRenewedAt, nodeView, type LeaseLike, type NodeLike, type NodeView } from './scheduling/nodes.js';
import { WorkQueue } from './workqueue.js';
import { Limiter } from './limiter.js';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  /** Where agent Leases and the leader Lease live (default gantry-system). */
  namespace?: string;
  /** Cluster-wide default trust list (account keys). */
  trustedIssuers?: string[];
  plainHttpRegistries?: string[];
  /** Archives larger than this are refused from their manifest, before a byte is read (default 256 MiB). */
  maxArchiveBytes?: number;
  /** An agent Lease not renewed for this long marks its node lost (default 20 s). */
  agentLeaseGraceMs?: number;
  /** HOST:PORT for /metrics, /healthz, /readyz (none when absent). */
  metricsAddr?: string;
  identity?: string;
  leaderElection?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** Replace the registry resolver (tests, benchmarks). */
  resolver?: ArchiveResolver;
  /** Reconciles at once (default 8) and API writes in flight over all of them (default 64). */
  concurrency?: number;
  writeConcurrency?: number;
  /** Informer watch timeout (default 60 s) — tests shorten it to exercise the watchdog. */
  watchTimeoutSeconds?: number;
}

export interface RunningController {
  /** Stops; `releaseLease: false` leaves the leader Lease held, as a crash would (tests). */
  stop(opts?: { releaseLease?: boolean }): Promise<void>;
  isLeader(): boolean;
  /** Where /metrics is served, when metricsAddr was given. */
  metricsUrl?: string;
  metrics: ControllerMetrics;
  /** Resolves when the work queue is empty (for tests and benchmarks). */
  idle(): Promise<void>;
}

const leaseName = 'gantry-controller';

/** `providerinstances`, `providers/status`, `events`: the resource part of an API path, a bounded label. */
export function resourceOfPath(path: string): string {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  // /api/v1/... or /apis/group/version/...
  let rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [plural, , sub] = rest;
  return plural ? (sub ? `${plural}/${sub}` : plural) : 'discovery';
}

/** The controller's client counts what it asks of the API server: the cost that matters at scale. */
class CountingClient extends KubeClient {
  // label lookups cost more than the count: one bound child per method+path (bounded)
  private readonly counters = new Map<string, { inc(): void }>();
  constructor(kc: KubeConfig, private readonly metrics: ControllerMetrics) {
    super(kc);
  }
  override request<T = any>(method: string, path: string, opts?: RequestOptions): Promise<T> {
    const key = method + path;
    let c = this.counters.get(key);
    if (!c) {
      if (this.counters.size >= 1000) this.counters.clear();
      c = this.metrics.apiRequests.labels(method, resourceOfPath(path));
      this.counters.set(key, c);
    }
    c.inc();
    return super.request<T>(method, path, opts);
  }
}
const expectationTtlMs = 60_000;
/** Instance status changes within this window share one reconcile of their Provider. */
const coalesceMs = 50;

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  if (opts.metricsAddr) parseListenAddr(opts.metricsAddr); // a usage error before anything starts
  const namespace = opts.namespace ?? defaultNamespace;
  const identity = opts.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const graceMs = opts.agentLeaseGraceMs ?? 20_000;
  const log = logger('controller', { identity });
  const metrics = new ControllerMetrics(!!opts.metricsAddr);
  const client = new CountingClient(opts.kubeConfig, metrics);
  const events = new EventRecorder(client, log, { host: identity });
  const resolver = new CachingResolver(opts.resolver ?? registryResolver({ plainHttpRegistries: opts.plainHttpRegistries, maxArchiveBytes: opts.maxArchiveBytes }));
  const informerOpts = { client, watchTimeoutSeconds: opts.watchTimeoutSeconds };

  const providers = new Informer<Provider>({ ...informerOpts, path: `/apis/${group}/${version}/providers`, name: 'providers' });
  const instances = new Informer<ProviderInstance>({ ...informerOpts, path: `/apis/${group}/${version}/providerinstances`, name: 'providerinstances', pageSize: 2000 });
  const nodes = new Informer<NodeLike & { metadata: { name: string } }>({ ...informerOpts, path: '/api/v1/nodes', name: 'nodes', pageSize: 2000 });
  const leases = new Informer<LeaseLike & { metadata: { name: string } }>({ ...informerOpts, path: `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`, name: 'agent-leases', pageSize: 2000 });

  const queue = new WorkQueue({
    concurrency: opts.concurrency ?? 8,
    onError: (key, err, attempt) => {
      metrics.failures.inc({ reason: 'ReconcileError' });
      log.warn({ provider: key, attempt, err: (err as Error).message }, 'reconcile failed; will retry');
    },
  });

  // --- indexes: instances by Provider, load by node, and this controller's expectations
  const byProvider = new Map<string, Map<string, ProviderInstance>>();
  const load = new Map<string, number>();
  const created = new Map<string, { inst: ProviderInstance; at: number }>();
  const removed = new Map<string, number>();
  const pkeyOf = (i: ProviderInstance) => `${i.metadata.namespace}/${i.metadata.ownerReferences?.find((r) => r.controller && r.kind === 'Provider')?.name ?? i.metadata.labels?.[labels.provider]}`;
  const ikeyOf = (i: ProviderInstance) => `${i.metadata.namespace}/${i.metadata.name}`;
  const bump = (node: string, by: number) => {
    const n = (load.get(node) ?? 0) + by;
    if (n <= 0) load.delete(node);
    else load.set(node, n);
  };
  // only instances a Provider controls are ours: others (no controller ownerReference) are left alone
  const owned = (i: ProviderInstance) => !!i.metadata.ownerReferences?.some((r) => r.controller && r.kind === 'Provider');
  instances.addHandler({
    add: (i) => {
      if (!owned(i)) return;
      const pk = pkeyOf(i);
      let m = byProvider.get(pk);
      if (!m) byProvider.set(pk, (m = new Map()));
      m.set(ikeyOf(i), i);
      // one this controller just created and already counts: seeing it changes no decision,
      // so a burst of placements does not come back as a burst of reconciles
      if (created.delete(ikeyOf(i))) return;
      bump(i.spec.nodeName, 1);
      queue.add(pk);
    },
    update: (i, old) => {
      if (!owned(i)) return;
      byProvider.get(pkeyOf(i))?.set(ikeyOf(i), i);
      // only what a reconcile reads; agents' other status updates (restarts, messages) wait
      // for the next resync. Bursts (agents starting many instances) coalesce into one.
      if (i.status?.phase !== old.status?.phase || i.metadata.deletionTimestamp !== old.metadata.deletionTimestamp || (i.metadata.finalizers?.length ?? 0) !== (old.metadata.finalizers?.length ?? 0)) {
        queue.addAfter(pkeyOf(i), coalesceMs);
      }
    },
    delete: (i) => {
      if (!owned(i)) return;
      const pk = pkeyOf(i);
      const m = byProvider.get(pk);
      if (m?.delete(ikeyOf(i))) bump(i.spec.nodeName, -1);
      if (m && m.size === 0) byProvider.delete(pk);
      removed.delete(ikeyOf(i));
      queue.add(pk);
    },
  });
  const instancesOf = (pk: string): ProviderInstance[] => {
    const now = Date.now();
    const out: ProviderInstance[] = [];
    for (const [k, i] of byProvider.get(pk) ?? []) {
      const at = removed.get(k);
      if (at !== undefined) {
        if (now - at < expectationTtlMs) continue;
        removed.delete(k); // its DELETED event never came: stop waiting for it
      }
      out.push(i);
    }
    for (const [k, c] of created) {
      if (now - c.at > expectationTtlMs) {
        created.delete(k);
        bump(c.inst.spec.nodeName, -1);
        continue;
      }
      if (pkeyOf(c.inst) === pk && !removed.has(k) && !byProvider.get(pk)?.has(k)) out.push(c.inst);
    }
    return out;
  };

  const enqueueAll = () => {
    for (const p of providers.list()) queue.add(`${p.metadata.namespace}/${p.metadata.name}`);
    for (const pk of byProvider.keys()) queue.add(pk);
  };
  const enqueueNode = (node: string) => {
    for (const [pk, m] of byProvider) for (const i of m.values()) if (i.spec.nodeName === node) {
      queue.add(pk);
      break;
    }
  };
  providers.addHandler({
    add: (p) => queue.add(`${p.metadata.namespace}/${p.metadata.name}`),
    update: (p, old) => {
      // status-only writes (our own) need no reconcile
      if (p.metadata.generation !== old.metadata.generation || p.metadata.deletionTimestamp !== old.metadata.deletionTimestamp || !old.metadata.generation) queue.add(`${p.metadata.namespace}/${p.metadata.name}`);
    },
    delete: (p) => queue.add(`${p.metadata.namespace}/${p.metadata.name}`),
  });

  // --- node views: Node + agent Lease, kept up to date one node at a time as either changes
  // (and when a lease expires, by the timers below) — never rebuilt whole per reconcile
  const views = new Map<string, NodeView>();
  const refreshView = (node: string) => {
    const n = nodes.get(node);
    if (n) views.set(node, nodeView(n, leases.get(agentLeaseName(node), namespace), graceMs, Date.now()));
    else views.delete(node);
  };
  const nodeViews = () => views;
  const nodeSig = (n: NodeLike) => JSON.stringify([n.metadata.labels, n.spec?.unschedulable, n.spec?.taints, (n.status?.conditions ?? []).find((c) => c.type === 'Ready')?.status]);
  nodes.addHandler({
    add: (n) => { refreshView(n.metadata.name); enqueueAll(); },
    update: (n, old) => {
      if (nodeSig(n) === nodeSig(old)) return;
      refreshView(n.metadata.name);
      enqueueAll();
    },
    delete: (n) => { refreshView(n.metadata.name); enqueueAll(); },
  });
  // agent liveness: re-check when a lease would expire; enqueue on live/dead transitions
  const expiryTimers = new Map<string, NodeJS.Timeout>();
  const liveState = new Map<string, boolean>();
  const onLease = (l: LeaseLike, deleted = false) => {
    const node = nodeOfAgentLease(l.metadata.name);
    if (!node) return;
    clearTimeout(expiryTimers.get(node));
    const expiresAt = (leaseRenewedAt(l) ?? 0) + graceMs;
    const live = !deleted && expiresAt > Date.now();
    refreshView(node);
    if (liveState.get(node) !== live) {
      liveState.set(node, live);
      if (live) enqueueAll();
      else enqueueNode(node);
    }
    if (live) {
      const t = setTimeout(() => {
        expiryTimers.delete(node);
        const cur = leases.get(l.metadata.name, namespace);
        if (cur) onLease(cur);
      }, expiresAt - Date.now() + 20);
      t.unref?.();
      expiryTimers.set(node, t);
    }
  };
  leases.addHandler({ add: (l) => onLease(l), update: (l) => onLease(l), delete: (l) => onLease(l, true) });

  const deps = {
    client,
    providers,
    instances,
    nodeViews,
    load: () => load,
    instancesOf,
    resolver,
    trustedIssuers: opts.trustedIssuers ?? [],
    events,
    metrics,
    log,
    writes: new Limiter(opts.writeConcurrency ?? 64),
    expectCreated: (i: ProviderInstance) => {
      // the watch may have delivered it before the POST returned: then it is known already
      if (byProvider.get(pkeyOf(i))?.has(ikeyOf(i))) return;
      created.set(ikeyOf(i), { inst: i, at: Date.now() });
      bump(i.spec.nodeName, 1);
    },
    expectRemoved: (k: string) => removed.set(k, Date.now()),
    failedOn: new Map(),
  };

  const handler = async (key: string) => {
    const end = metrics.reconcileDuration.startTimer();
    try {
      const r = await reconcileProvider(deps, key);
      end({ result: 'ok' });
      return r ?? undefined;
    } catch (err) {
      end({ result: 'error' });
      throw err;
    } finally {
      metrics.queueDepth.set(queue.depth);
    }
  };

  // fail fast with an actionable message rather than retrying a list that can never work
  try {
    await client.get(`/apis/${group}/${version}`);
  } catch (err) {
    const code = (err as { code?: number }).code;
    client.close();
    if (code === 404) throw Object.assign(new Error(`the Gantry CRDs (${group}/${version}) are not installed; run \`kubectl apply -f crds/\``), { code: 'CRDS_MISSING', exitCode: 1 });
    throw Object.assign(new Error(`cannot reach the Kubernetes API at ${opts.kubeConfig.getCurrentCluster()?.server}: ${(err as Error).message}`), { code: 'API_UNREACHABLE', exitCode: 1 });
  }
  await Promise.all([providers.start(), instances.start(), nodes.start(), leases.start()]);
  log.info({ namespace, providers: providers.list().length, instances: instances.list().length, nodes: nodes.list().length }, 'caches synced');
  const stopInformers = () => Promise.all([providers.stop(), instances.stop(), nodes.stop(), leases.stop()]);

  // served before the election starts, so a port in use fails the start without leaving a leader behind
  let server: MetricsServer | undefined;
  if (opts.metricsAddr) {
    try {
      server = await serveMetrics(opts.metricsAddr, metrics, () => providers.hasSynced && instances.hasSynced && nodes.hasSynced && leases.hasSynced);
    } catch (err) {
      await stopInformers();
      client.close();
      throw err;
    }
  }

  const le = opts.leaderElection ?? { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };
  const elector = new LeaderElector({
    client,
    namespace,
    name: leaseName,
    identity,
    ...le,
    log,
    onStartedLeading: () => {
      metrics.leader.set(1);
      queue.run(handler);
      enqueueAll();
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      queue.pause();
    },
  });
  elector.start();
  const resync = setInterval(() => elector.isLeader() && enqueueAll(), 30_000);
  resync.unref?.();

  let stopped = false;
  return {
    metrics,
    metricsUrl: server?.url,
    isLeader: () => elector.isLeader(),
    idle: () => queue.idle(),
    async stop(stopOpts: { releaseLease?: boolean } = {}) {
      if (stopped) return;
      stopped = true;
      clearInterval(resync);
      for (const t of expiryTimers.values()) clearTimeout(t);
      queue.pause();
      await queue.stop();
      await elector.stop(stopOpts.releaseLease ?? true);
      await stopInformers();
      await server?.close();
      client.close();
      log.info('controller stopped');
    },
  };
}

export type { ArchiveResolver, ResolveRequest } from './resolve.js';
export { ResolveFailure } from './resolve.js';
export { registryResolver } from './registry-resolver.js';
