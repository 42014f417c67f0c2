/**
 * The Gantry controller's manager: it wires informers (Providers, ProviderInstances, Nodes,
 * agent Leases) to the caches the reconciler reads — the instance index with its expectations
 * (instance-index.ts), the node views with their Lease timers (node-views.ts), pull secrets
 * (pull-secret-cache.ts) — turns events into keys on one work queue, and, while it holds the
 * leader Lease, runs the Provider reconciler (reconcile/) over that queue. Informers run on
 * standbys too, so a takeover starts from warm caches. Nothing here decides anything about a
 * Provider; that is reconcile/'s job.
 *
 *   const c = await startController({ kubeConfig, namespace: 'gantry-system' });
 *   c.isLeader(); await c.stop();
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import {
  group,
  version,
  defaultNamespace,
  agentLeaseName,
  type CapabilityGrant,
  type Provider,
  type ProviderInstance,
} from '../api/index.js';
import { InstancePullCredentials, registryPullTokenMinter } from './instance-pull-creds.js';
import { grantsPath, InstanceCredentials, reconcileGrant, type MembraneConfig } from './membrane.js';
import type { KubeConfig } from '../runtime/kube.js';
import { CountingClient } from './counting-client.js';
import { Informer } from '../runtime/informer.js';
import { parseListenAddr } from '../runtime/metrics-server.js';
import { logger } from '../runtime/log.js';
import { EventRecorder } from './events.js';
import { LeaderElector } from '../runtime/toolkit/leader.js';
import { ControllerMetrics, serveMetrics, type MetricsServer } from './metrics.js';
import { reconcileProvider, type ReconcilerDeps } from './reconcile/index.js';
import { InstanceWriter } from './reconcile/writes.js';
import { InstanceIndex } from './instance-index.js';
import { NodeViews } from './node-views.js';
import { FailedNodes } from './failed-nodes.js';
import { PullSecretCache } from './pull-secret-cache.js';
import { CachingResolver, type ArchiveResolver } from './resolve.js';
import { registryResolver } from './registry-resolver.js';
import type { LeaseLike, NodeLike } from './scheduling/nodes.js';
import { WorkQueue } from '../runtime/toolkit/workqueue.js';
import { Limiter } from '../runtime/toolkit/limiter.js';
import { GantryError } from '../runtime/errors.js';
import type { NamespaceMap } from '../registry/namespaces.js';
import { RegistryLogWitness } from './log-witness.js';

export { parseLogKeys } from './log-witness.js';

const PULL_CREDS_SWEEP = 'sweep:pull-credentials';

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
  /**
   * How long a pinned revision's digest is taken from cache before the registry is asked again
   * (default 5 min) — and so how soon a moved revision tag is noticed (RevisionMoved).
   */
  revisionRecheckMs?: number;
  /** How long "the highest revision" of a Provider without spec.archive.revision is taken from cache (default 15 s). */
  latestRecheckMs?: number;
  /** Every Provider is reconciled again this often, changed or not (default 30 s). */
  resyncMs?: number;
  /** How long a pull secret read counts as fresh before a reconcile reads it again (default 30 s): a rotation reaches instances' credentials within about this. */
  pullSecretTtlMs?: number;
  /** Replace the registry resolver (tests, benchmarks). */
  resolver?: ArchiveResolver;
  /** Short archive names → registry repositories (--namespace-map; registry/namespaces.ts). */
  namespaces?: NamespaceMap;
  /** Trusted transparency-log verifier keys (--log-key): resolved revisions are checked against their repository's log (controller/log-witness.ts). */
  logKeys?: string[];
  /** Refuse repositories without a log, for every Provider (--require-log). */
  requireLog?: boolean;
  /** How long an opened log is reused before it is read again (default 15 s). */
  logRecheckMs?: number;
  /** Reconciles at once (default 8) and API writes in flight over all of them (default 64). */
  concurrency?: number;
  writeConcurrency?: number;
  /** Informer watch timeout (default 60 s) — tests shorten it to exercise the watchdog. */
  watchTimeoutSeconds?: number;
  /**
   * The membrane (controller/membrane.ts): with it the controller mints host credentials for
   * every instance and reconciles CapabilityGrants; without it neither happens.
   */
  membrane?: MembraneConfig;
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

const expectationTtlMs = 60_000;
/** Instance status changes within this window share one reconcile of their Provider. */
const coalesceMs = 50;

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  if (opts.metricsAddr) parseListenAddr(opts.metricsAddr); // a usage error before anything starts
  const namespace = opts.namespace ?? defaultNamespace;
  const identity = opts.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log = logger('controller', { identity });
  const metrics = new ControllerMetrics(!!opts.metricsAddr);
  const client = new CountingClient(opts.kubeConfig, metrics);
  const events = new EventRecorder(client, log, { host: identity });
  const resolver = new CachingResolver(
    opts.resolver ?? registryResolver({ plainHttpRegistries: opts.plainHttpRegistries, maxArchiveBytes: opts.maxArchiveBytes }),
    { pinnedTtlMs: opts.revisionRecheckMs, latestTtlMs: opts.latestRecheckMs },
  );
  const informerOpts = { client, watchTimeoutSeconds: opts.watchTimeoutSeconds };

  const providers = new Informer<Provider>({ ...informerOpts, path: `/apis/${group}/${version}/providers`, name: 'providers' });
  const instances = new Informer<ProviderInstance>({
    ...informerOpts,
    path: `/apis/${group}/${version}/providerinstances`,
    name: 'providerinstances',
    pageSize: 2000,
  });
  const nodes = new Informer<NodeLike & { metadata: { name: string } }>({
    ...informerOpts,
    path: '/api/v1/nodes',
    name: 'nodes',
    pageSize: 2000,
  });
  const leases = new Informer<LeaseLike & { metadata: { name: string } }>({
    ...informerOpts,
    path: `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
    name: 'agent-leases',
    pageSize: 2000,
  });

  const grants = opts.membrane
    ? new Informer<CapabilityGrant & { metadata: { name: string } }>({ ...informerOpts, path: grantsPath(), name: 'capabilitygrants' })
    : undefined;
  const informersList = () => [providers, instances, nodes, leases, ...(grants ? [grants] : [])];

  const queue = new WorkQueue({
    concurrency: opts.concurrency ?? 8,
    onError: (key, err, attempt) => {
      metrics.failures.inc({ reason: 'ReconcileError' });
      log.warn({ provider: key, attempt, err: (err as Error).message }, 'reconcile failed; will retry');
    },
  });
  const keyOf = (o: { metadata: { namespace?: string; name: string } }) => `${o.metadata.namespace}/${o.metadata.name}`;
  const index = new InstanceIndex(expectationTtlMs);
  const enqueueAll = () => {
    queue.add(PULL_CREDS_SWEEP);
    for (const p of providers.list()) queue.add(keyOf(p));
    for (const pk of index.providerKeys()) queue.add(pk);
  };
  const enqueueNode = (node: string) => {
    for (const pk of index.providersOn(node)) queue.add(pk);
  };
  const views = new NodeViews({
    node: (name) => nodes.get(name),
    lease: (node) => leases.get(agentLeaseName(node), namespace),
    graceMs: opts.agentLeaseGraceMs ?? 20_000,
    onAgentLive: enqueueAll,
    onAgentLost: enqueueNode,
  });

  // events only enqueue keys
  // The membrane's own queue: grants (grant:<ns>/<name>), instance credentials
  // (instance:<ns>/<name>), the sweep of credentials of gone instances (sweep) and the
  // account push (push).
  const membraneQueue = new WorkQueue({
    concurrency: 2,
    onError: (key, err, attempt) => log.warn({ key, attempt, err: (err as Error).message }, 'membrane reconcile failed; will retry'),
  });
  const creds = opts.membrane ? new InstanceCredentials(opts.membrane, client, namespace, log) : undefined;
  const membraneAll = () => {
    if (!opts.membrane) return;
    for (const g of grants?.list() ?? []) membraneQueue.add(`grant:${keyOf(g)}`);
    for (const i of instances.list()) membraneQueue.add(`instance:${keyOf(i)}`);
    membraneQueue.add('sweep');
    membraneQueue.add('push');
  };
  if (opts.membrane) {
    instances.addHandler({
      add: (i) => membraneQueue.add(`instance:${keyOf(i)}`),
      update: (i) => {
        if (i.metadata.deletionTimestamp) membraneQueue.add('sweep');
      },
      delete: () => membraneQueue.add('sweep'),
    });
    grants!.addHandler({
      add: (g) => membraneQueue.add(`grant:${keyOf(g)}`),
      update: (g, old) => {
        if (
          g.metadata.generation !== old.metadata.generation ||
          g.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
          !jsonEqualShallow(g.metadata.finalizers, old.metadata.finalizers)
        )
          membraneQueue.add(`grant:${keyOf(g)}`);
      },
      delete: () => {},
    });
  }
  const membraneHandler = async (key: string) => {
    if (key === 'push') {
      // Merge the servers' revocation list, then push ours: a NATS that lost its resolver
      // volume gets the current list back within one resync.
      await opts.membrane!.authority.syncRevocations(opts.membrane!.servers).catch(() => {});
      return opts.membrane!.authority.pushAccount(opts.membrane!.servers);
    }
    if (key === 'sweep') {
      return creds!.sweep((ns, name, uid) => {
        const i = instances.get(name, ns);
        return !!i && i.metadata.uid === uid && !i.metadata.deletionTimestamp;
      });
    }
    const [kind, k] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
    if (kind === 'instance') {
      const [ns, name] = k.split('/');
      const i = instances.get(name, ns);
      if (i) await creds!.ensure(i);
      return;
    }
    return reconcileGrant(
      {
        membrane: opts.membrane,
        client,
        grants: { get: (n, ns) => grants!.get(n, ns), list: () => grants!.list() },
        requeue: (g) => membraneQueue.add(`grant:${g}`),
        log,
      },
      k,
    );
  };

  instances.addHandler({
    add: (i) => enqueue(index.observeAdd(i)),
    // bursts of status updates (agents starting many instances) coalesce into one reconcile
    update: (i, old) => enqueue(index.observeUpdate(i, old), coalesceMs),
    delete: (i) => {
      enqueue(index.observeDelete(i));
      if (i.spec?.archive?.pullSecrets?.length) queue.add(PULL_CREDS_SWEEP);
    },
  });
  function enqueue(pk: string | undefined, afterMs?: number) {
    if (pk === undefined) return;
    if (afterMs) queue.addAfter(pk, afterMs);
    else queue.add(pk);
  }
  providers.addHandler({
    add: (p) => queue.add(keyOf(p)),
    update: (p, old) => {
      // status-only writes (our own) need no reconcile
      if (
        p.metadata.generation !== old.metadata.generation ||
        p.metadata.deletionTimestamp !== old.metadata.deletionTimestamp ||
        !old.metadata.generation
      )
        queue.add(keyOf(p));
    },
    delete: (p) => queue.add(keyOf(p)),
  });
  const nodeSig = (n: NodeLike) =>
    JSON.stringify([
      n.metadata.labels,
      n.spec?.unschedulable,
      n.spec?.taints,
      (n.status?.conditions ?? []).find((c) => c.type === 'Ready')?.status,
    ]);
  nodes.addHandler({
    add: (n) => {
      views.nodeChanged(n.metadata.name);
      enqueueAll();
    },
    update: (n, old) => {
      if (nodeSig(n) === nodeSig(old)) return;
      views.nodeChanged(n.metadata.name);
      enqueueAll();
    },
    delete: (n) => {
      views.nodeChanged(n.metadata.name);
      enqueueAll();
    },
  });
  leases.addHandler({
    add: (l) => views.leaseChanged(l),
    update: (l) => views.leaseChanged(l),
    delete: (l) => views.leaseChanged(l, true),
  });

  const pullSecrets = new PullSecretCache(client, (pk) => queue.add(pk), { ttlMs: opts.pullSecretTtlMs });
  const pullCreds = new InstancePullCredentials(
    client,
    namespace,
    log,
    registryPullTokenMinter({ plainHttpRegistries: opts.plainHttpRegistries }),
  );
  const deps: ReconcilerDeps = {
    pullCreds,
    providers,
    instances: index,
    nodes: views,
    pullSecrets,
    failedNodes: new FailedNodes(),
    resolver,
    namespaces: opts.namespaces,
    logWitness:
      opts.logKeys?.length || opts.requireLog
        ? new RegistryLogWitness({
            verifierKeys: opts.logKeys ?? [],
            requireLog: opts.requireLog,
            plainHttpRegistries: opts.plainHttpRegistries,
            recheckMs: opts.logRecheckMs,
            metrics,
          })
        : undefined,
    trustedIssuers: opts.trustedIssuers ?? [],
    writer: new InstanceWriter(
      client,
      new Limiter(opts.writeConcurrency ?? 64),
      index,
      metrics,
      (node) => !!views.all().get(node)?.agentLive,
    ),
    client,
    events,
    metrics,
    log,
  };

  const handler = async (key: string) => {
    if (key === PULL_CREDS_SWEEP) {
      // instance pull credentials of gone instances (no slash: never a Provider key)
      return pullCreds.sweep((ns, name, uid) => {
        const i = instances.get(name, ns);
        return !!i && i.metadata.uid === uid && !i.metadata.deletionTimestamp;
      });
    }
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
    if (code === 404)
      throw new GantryError('CRDS_MISSING', `the Gantry CRDs (${group}/${version}) are not installed; run \`kubectl apply -f crds/\``);
    throw new GantryError(
      'API_UNREACHABLE',
      `cannot reach the Kubernetes API at ${opts.kubeConfig.getCurrentCluster()?.server}: ${(err as Error).message}`,
    );
  }
  await Promise.all(informersList().map((i) => i.start()));
  log.info(
    {
      namespace,
      providers: providers.list().length,
      instances: instances.list().length,
      nodes: nodes.list().length,
      grants: grants?.list().length,
    },
    'caches synced',
  );
  const stopInformers = () => Promise.all(informersList().map((i) => i.stop()));
  if (opts.membrane) {
    // The revocation list lives in the account JWT the servers hold: recover it before minting.
    await opts.membrane.authority
      .syncRevocations(opts.membrane.servers)
      .catch((err) => log.warn({ err: (err as Error).message }, 'cannot read the revocation list from NATS; starting from the local one'));
  }

  // served before the election starts, so a port in use fails the start without leaving a leader behind
  let server: MetricsServer | undefined;
  if (opts.metricsAddr) {
    try {
      server = await serveMetrics(
        opts.metricsAddr,
        metrics,
        () => providers.hasSynced && instances.hasSynced && nodes.hasSynced && leases.hasSynced,
      );
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
      if (opts.membrane) {
        membraneQueue.run(membraneHandler);
        membraneAll();
      }
    },
    onStoppedLeading: () => {
      metrics.leader.set(0);
      queue.pause();
      membraneQueue.pause();
    },
  });
  elector.start();
  const resync = setInterval(() => {
    if (elector.isLeader()) {
      enqueueAll();
      membraneAll();
    }
  }, opts.resyncMs ?? 30_000);
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
      views.stop();
      pullSecrets.stop();
      queue.pause();
      membraneQueue.pause();
      await Promise.all([queue.stop(), membraneQueue.stop()]);
      await opts.membrane?.authority.close();
      await elector.stop(stopOpts.releaseLease ?? true);
      await stopInformers();
      await server?.close();
      client.close();
      log.info('controller stopped');
    },
  };
}

function jsonEqualShallow(a?: string[], b?: string[]): boolean {
  return JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
}

export type { ArchiveResolver, ResolveRequest } from './resolve.js';
export type { MembraneConfig } from './membrane.js';
export { resourceOfPath } from './counting-client.js';
export { ResolveFailure } from './resolve.js';
export { registryResolver } from './registry-resolver.js';
