/**
 * The Gantry controller: a manager (manager.ts) running one reconciler per kind, each in its
 * own folder with its own work queue and typed keys —
 *   providers/    Providers → ProviderInstances (resolve, heal, roll out, schedule, status);
 *   credentials/  each instance's pull credential sweep and, with the membrane, host credential;
 *   grants/       CapabilityGrants and the membrane's account (with the membrane);
 *   autoscale/    Providers with spec.autoscale: replicas from the load reports read on the bus (bus.ts).
 * Informers run on standbys too, so a takeover starts from warm caches; reconcilers run only
 * while this replica holds the leader Lease. Nothing here decides anything about an object.
 *
 *   const c = await startController({ kubeConfig, namespace: 'gantry-system' });
 *   c.isLeader(); await c.stop();
 */
import type { SecretConfigWriter } from './providers/secret-config.js';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { agentLeaseName, defaultCredentialsNamespace, defaultNamespace, group, version } from '../api/index.js';
import type { TransferLimits } from '../registry/index.js';
import type { NamespaceMap } from '../registry/namespaces.js';
import { sealKeyOfLease } from '../registry/sealed-credential.js';
import { TrustWatch } from '../api/trust-watch.js';
import { GantryError } from '../runtime/errors.js';
import type { KubeConfig } from '../runtime/kube.js';
import { type Logger, logger } from '../runtime/log.js';
import { parseListenAddr } from '../runtime/metrics-server.js';
import { registerTrustMetrics } from '../runtime/trust-metrics.js';
import { Autoscaler } from './autoscale/autoscaler.js';
import { LoadStore } from './autoscale/load-store.js';
import type { ActivationResponder } from './activation/responder.js';
import type { ControllerBus } from './bus.js';
import { activationResponder, closeBus, followLeadership, serveAndConnect } from './serving.js';
import { CountingClient } from './counting-client.js';
import { InstanceCredentials } from './credentials/host.js';
import { InstanceSecretConfig } from './credentials/config.js';
import { InstancePullCredentials, registryPullTokenMinter } from './credentials/pull.js';
import { hostCredentialsReconciler, pullCredentialsReconciler } from './credentials/reconcilers.js';
import { EventRecorder } from './events.js';
import { grantsReconciler } from './grants/reconciler.js';
import { grantInformer, instanceInformer, providerInformer } from './informers.js';
import { Manager } from './manager.js';
import { type MembraneConfig, reportPushes } from './membrane.js';
import { ControllerMetrics } from './metrics.js';
import { type MetricsApiSettings, metricsApiListenAddr } from './metrics-api/index.js';
import { RegistryLogWitness } from './providers/archive/log-witness.js';
import { registryResolver } from './providers/archive/registry-resolver.js';
import { type ArchiveResolver, CachingResolver } from './providers/archive/resolver.js';
import { agentLeaseInformer, nodeInformer, type ProvidersOptions, providersReconciler } from './providers/reconciler.js';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  /** Where agent Leases and the leader Lease live (default gantry-system). */
  namespace?: string;
  /** Where the instances' sealed pull credentials are written (default gantry-nodes): the only Secrets agents read. */
  credentialsNamespace?: string;
  /** Cluster-wide default trust list (account keys). */
  trustedIssuers?: string[];
  /** Watch this ConfigMap (gantry-trust) for the trust list instead (--trust-configmap; api/trust-watch.ts). */
  trustConfigMap?: { namespace: string; name: string };
  plainHttpRegistries?: string[];
  /** Archives larger than this are refused from their manifest, before a byte is read (default 256 MiB). */
  maxArchiveBytes?: number;
  /** Every registry request's deadline and minimum transfer rate (default DEFAULT_TRANSFER_LIMITS). */
  transferLimits?: TransferLimits;
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
  /**
   * How long a pull secret read counts as fresh before a reconcile reads it again (default 30 s):
   * a rotation reaches instances' credentials within about this.
   */
  pullSecretTtlMs?: number;
  /**
   * How long a spec.configFrom ConfigMap or Secret read counts as fresh (default 10 s): a changed
   * or rotated one is noticed within about this (--config-ref-ttl), and rolled out.
   */
  configRefTtlMs?: number;
  /** Seals instances' secret config values to their nodes (controller/providers/secret-config.ts; absent: none written). */
  secretConfig?: SecretConfigWriter;
  /** The controller's logger (default: logger('controller')); tests read what it writes. */
  log?: Logger;
  /** Replace the registry resolver (tests, benchmarks). */
  resolver?: ArchiveResolver;
  /** Short archive names → registry repositories (--namespace-map; registry/namespaces.ts). */
  namespaces?: NamespaceMap;
  /**
   * Trusted transparency-log verifier keys (--log-key): resolved revisions are checked against
   * their repository's log (controller/providers/archive/log-witness.ts).
   */
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
   * The membrane (controller/membrane.ts, grants/, credentials/host.ts): with it the controller mints host credentials for
   * every instance and reconciles CapabilityGrants; without it neither happens.
   */
  membrane?: MembraneConfig;
  /** How long a host JWT minted under the membrane is valid (default 1 h); renewed when a third remains. */
  hostJwtLifetimeMs?: number;
  /** The longest a CapabilityGrant's JWT lives (exp − iat; renewed at two thirds); default 24 h. */
  grantJwtLifetimeMs?: number;
  /** Without the membrane: the NATS URL load reports are read from (--nats; plain, for tests and development). */
  nats?: string;
  /** How often each autoscaled Provider is decided on (--autoscale-interval; default 1 s). */
  autoscaleIntervalMs?: number;
  /** The span load figures are taken over (--autoscale-window; default 6 s). */
  autoscaleWindowMs?: number;
  /** Serve external.metrics.k8s.io for HPAs (controller/metrics-api/; absent: not served). */
  metricsApi?: MetricsApiSettings;
}

export interface RunningController {
  /** Stops; `releaseLease: false` leaves the leader Lease held, as a crash would (tests). */
  stop(opts?: { releaseLease?: boolean }): Promise<void>;
  isLeader(): boolean;
  /** Where /metrics is served, when metricsAddr was given. */
  metricsUrl?: string;
  /** Where the external metrics API is served, when metricsApi was given. */
  metricsApiUrl?: string;
  metrics: ControllerMetrics;
  /** Resolves when the work queue is empty (for tests and benchmarks). */
  idle(): Promise<void>;
  /** The autoscaler: also the Activator the activation responder calls (autoscale/contract.ts). */
  autoscaler: Autoscaler;
  /** The load figures (the external metrics API reads them: ProviderFiguresSource). */
  loadStore: LoadStore;
  /** The controller's bus connection, with the membrane or --nats (the activation responder is wired on it). */
  bus?: ControllerBus;
  /** The activation responder on the bus (serving while this replica leads). */
  activation?: ActivationResponder;
}

const leaseName = 'gantry-controller';
const defaultElection = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export async function startController(opts: ControllerOptions): Promise<RunningController> {
  if (opts.metricsAddr) parseListenAddr(opts.metricsAddr); // a usage error before anything starts
  if (opts.metricsApi) metricsApiListenAddr(opts.metricsApi.addr);
  const namespace = opts.namespace ?? defaultNamespace;
  const identity = opts.identity ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const log = opts.log?.child({ identity }) ?? logger('controller', { identity });
  const metrics = new ControllerMetrics(!!opts.metricsAddr);
  const client = new CountingClient(opts.kubeConfig, metrics);
  const m = new Manager({
    client,
    log,
    watchTimeoutSeconds: opts.watchTimeoutSeconds,
    election: { namespace, name: leaseName, identity, ...(opts.leaderElection ?? defaultElection) },
    resyncMs: opts.resyncMs ?? 30_000,
    onLeading: (leading) => {
      metrics.leader.set(leading ? 1 : 0);
      onLeading(leading);
    },
  });
  // set once the bus is connected: the activation responder answers only while this replica leads
  let onLeading: (leading: boolean) => void = () => {};
  const shared = { informers: m, client, log, metrics };
  const mint = registryPullTokenMinter({ plainHttpRegistries: opts.plainHttpRegistries });
  const leases = agentLeaseInformer(m, namespace);
  const sealKeyOf = (node: string) => sealKeyOfLease(leases.get(agentLeaseName(node), namespace));
  const credsNs = opts.credentialsNamespace ?? defaultCredentialsNamespace;
  const pullCreds = new InstancePullCredentials(client, credsNs, log, mint, Date.now, sealKeyOf, namespace);
  // a writer given in the options (tests) stands in for the sealed one; the sweep deletes the sealed ones either way
  const sealedConfig = new InstanceSecretConfig(client, credsNs, log, sealKeyOf);
  const secretConfig = opts.secretConfig ?? sealedConfig;
  const events = new EventRecorder(client, log, { host: identity });
  const trust = watchTrust(opts, client, log, events);
  if (trust) registerTrustMetrics(metrics.registry, trust);
  // secretConfig: the Provider reconcile seals each instance's secret config values with it (ProviderDeps.secretConfig)
  const providerDeps = { ...shared, ...providerSettings(opts, metrics), trust, namespace, pullCreds, secretConfig, events };
  m.register(providersReconciler(providerDeps));
  m.register(pullCredentialsReconciler({ ...shared, pullCreds, secretConfig: sealedConfig }));
  if (opts.membrane) registerMembrane(m, shared, opts, opts.membrane, namespace);
  const { loadStore, autoscaler } = registerAutoscaler(m, { client, log, events, metrics }, opts);

  await preflight(client, opts.kubeConfig);
  await trust?.start();
  await m.startInformers();
  const count = (i: { list(): unknown[] }) => i.list().length;
  const grants = opts.membrane ? count(grantInformer(m)) : undefined;
  const synced = { providers: count(providerInformer(m)), instances: count(instanceInformer(m)), nodes: count(nodeInformer(m)), grants };
  log.info({ namespace, ...synced }, 'caches synced');
  if (opts.membrane) await recoverRevocations(opts.membrane, log);

  // served (and connected) before the election starts, so a port in use or an unreachable bus fails the start without leaving a leader behind
  const { server, metricsApi, bus } = await serveAndConnect(opts, { m, client, log, metrics, loadStore });
  const responder = bus && activationResponder(m, bus, autoscaler, log);
  if (responder) onLeading = followLeadership(responder, log);
  m.lead();

  let stopped = false;
  return {
    metrics,
    metricsUrl: server?.url,
    metricsApiUrl: metricsApi?.url,
    isLeader: () => m.isLeader(),
    idle: () => m.idle(),
    autoscaler,
    loadStore,
    bus,
    activation: responder,
    async stop(stopOpts: { releaseLease?: boolean } = {}) {
      sealedConfig.stop();
      if (stopped) return;
      stopped = true;
      const drained = () => closeBus(responder, bus, opts.membrane);
      await m.stop({ releaseLease: stopOpts.releaseLease, drained });
      await trust?.stop();
      await server?.close();
      await metricsApi?.close();
      client.close();
      log.info('controller stopped');
    },
  };
}

/** The watched trust policy (--trust-configmap); a refused update is also a Warning Event on the ConfigMap. */
function watchTrust(opts: ControllerOptions, client: CountingClient, log: Logger, events: EventRecorder): TrustWatch | undefined {
  if (!opts.trustConfigMap) return undefined;
  const trust = new TrustWatch({ client, ...opts.trustConfigMap, log, watchTimeoutSeconds: opts.watchTimeoutSeconds });
  trust.onError((message, cm) => {
    if (cm) events.record({ apiVersion: 'v1', kind: 'ConfigMap', metadata: cm.metadata }, 'Warning', 'TrustPolicyInvalid', message);
  });
  return trust;
}

/** The membrane's reconcilers: host credentials for node-made keys, and grants; every account push reported. */
function registerMembrane(
  m: Manager,
  shared: { informers: Manager; client: CountingClient; log: Logger; metrics: ControllerMetrics },
  opts: ControllerOptions,
  membrane: MembraneConfig,
  namespace: string,
): void {
  reportPushes(membrane, shared.log, shared.metrics);
  const creds = new InstanceCredentials(membrane, shared.client, namespace, shared.log, {
    lifetimeMs: opts.hostJwtLifetimeMs,
    grants: () => grantInformer(m).list(),
    instances: () => instanceInformer(m).list(),
  });
  m.register(hostCredentialsReconciler({ ...shared, creds }));
  m.register(grantsReconciler({ ...shared, membrane, jwtLifetimeMs: opts.grantJwtLifetimeMs }));
}

/** The autoscaler (autoscale/) and the figures it decides on. */
function registerAutoscaler(
  m: Manager,
  shared: { client: CountingClient; log: Logger; events: EventRecorder; metrics: ControllerMetrics },
  opts: ControllerOptions,
) {
  const loadStore = new LoadStore(opts.autoscaleWindowMs ?? 6000);
  const autoscaler = new Autoscaler({
    informers: m,
    client: shared.client,
    log: shared.log.child({ reconciler: 'autoscale' }),
    events: shared.events,
    store: loadStore,
    intervalMs: opts.autoscaleIntervalMs ?? 1000,
    figuresAvailable: !!(opts.membrane || opts.nats),
    isLeader: () => m.isLeader(),
    scaled: (reason) => shared.metrics.autoscaleScales.inc({ reason }),
  });
  m.register(autoscaler);
  return { loadStore, autoscaler };
}

/** The revocation list lives in the account JWT the servers hold: recover it before minting. */
async function recoverRevocations(membrane: MembraneConfig, log: Logger): Promise<void> {
  try {
    // First run with JWT lifetimes: every older JWT (some never expiring) is refused from the next push.
    if (await membrane.authority.syncRevocations(membrane.servers))
      log.warn('membrane: revoke-all entry set once; JWTs minted before lifetimes were enforced are refused and re-issued');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot read the revocation list from NATS; starting from the local one');
  }
}

/** The Provider reconciler's settings from the options, with their defaults. */
function providerSettings(opts: ControllerOptions, metrics: ControllerMetrics) {
  const { plainHttpRegistries, transferLimits } = opts;
  const inner = opts.resolver ?? registryResolver({ plainHttpRegistries, maxArchiveBytes: opts.maxArchiveBytes, transferLimits });
  return {
    concurrency: opts.concurrency ?? 8,
    writeConcurrency: opts.writeConcurrency ?? 64,
    agentLeaseGraceMs: opts.agentLeaseGraceMs ?? 20_000,
    pullSecretTtlMs: opts.pullSecretTtlMs,
    configRefTtlMs: opts.configRefTtlMs,
    secretConfig: opts.secretConfig,
    resolver: new CachingResolver(inner, { pinnedTtlMs: opts.revisionRecheckMs, latestTtlMs: opts.latestRecheckMs }),
    namespaces: opts.namespaces,
    logWitness:
      opts.logKeys?.length || opts.requireLog
        ? new RegistryLogWitness({
            verifierKeys: opts.logKeys ?? [],
            requireLog: opts.requireLog,
            plainHttpRegistries,
            transferLimits,
            recheckMs: opts.logRecheckMs,
            metrics,
          })
        : undefined,
    trustedIssuers: opts.trustedIssuers ?? [],
  } satisfies Partial<ProvidersOptions>;
}

/** Fails fast with an actionable message rather than retrying a list that can never work. */
async function preflight(client: CountingClient, kubeConfig: KubeConfig): Promise<void> {
  try {
    await client.get(`/apis/${group}/${version}`);
  } catch (err) {
    const code = (err as { code?: number }).code;
    client.close();
    if (code === 404)
      throw new GantryError('CRDS_MISSING', `the Gantry CRDs (${group}/${version}) are not installed; run \`kubectl apply -f crds/\``);
    throw new GantryError(
      'API_UNREACHABLE',
      `cannot reach the Kubernetes API at ${kubeConfig.getCurrentCluster()?.server}: ${(err as Error).message}`,
    );
  }
}

export { parseLogKeys } from './providers/archive/log-witness.js';
export type { ArchiveResolver, ResolveRequest } from './providers/archive/resolver.js';
export { type MembraneConfig, MEMBRANE_KEYS_SECRET, membraneAuthorityFromSecret } from './membrane.js';
export { resourceOfPath } from './counting-client.js';
export { ResolveFailure } from './providers/archive/resolver.js';
export { registryResolver } from './providers/archive/registry-resolver.js';
