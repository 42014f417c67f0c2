/**
 * `gantry controller` — run the Provider controller in the foreground until SIGTERM/SIGINT.
 * Outside a cluster give `--kubeconfig`; in a pod the in-cluster service account is used.
 * Several may run at once: they elect a leader on a Lease and only the leader acts.
 */
import { trustConfigMapFlag, trustConfigMapOf } from './trust-flags.js';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import type { MembraneAuthority } from '../membrane/index.js';
import type { NamespaceMap } from '../registry/index.js';
import { collect, parseByteSize, parseDuration } from './options.js';
import { type TransferFlags, transferLimitFlags, transferLimitsOf } from './transfer-flags.js';

export { parseDuration };

interface ControllerFlags extends TransferFlags {
  kubeconfig?: string;
  namespace: string;
  credentialsNamespace: string;
  trustIssuer: string[];
  trustConfigmap?: string;
  plainHttpRegistry: string[];
  logKey: string[];
  requireLog?: boolean;
  namespaceMap?: string;
  maxArchiveBytes: string;
  agentLeaseGrace: string;
  configRefTtl: string;
  metricsAddr?: string;
  nats?: string;
  autoscaleInterval: string;
  autoscaleWindow: string;
  identity?: string;
  membraneKeys?: string;
  membraneKeysSecret?: string;
  membraneNats?: string;
  hostJwtLifetime: string;
  natsCa?: string;
  grantJwtLifetime: string;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  metricsApiAddr?: string;
  metricsApiTlsCert?: string;
  metricsApiTlsKey?: string;
  requestheaderClientCa?: string;
  requestheaderAllowedNames?: string;
}

export function registerController(program: Command): void {
  trustConfigMapFlag(transferLimitFlags(program.command('controller')))
    .description('run the Provider controller: resolve revisions, place instances, roll out, heal')
    .option('--kubeconfig <file>', 'kubeconfig file (default: in-cluster service account)')
    .option('--namespace <ns>', 'Gantry namespace (agent Leases, leader Lease)', 'gantry-system')
    .option(
      '--credentials-namespace <ns>',
      "where the instances' pull credentials are written, sealed to their node (the only Secrets agents read)",
      'gantry-nodes',
    )
    .option('--trust-issuer <key>', 'account key (A…) trusted to sign archives, for every Provider; repeatable', collect, [] as string[])
    .option('--plain-http-registry <host:port>', 'registry reachable only over plain HTTP; repeatable', collect, [] as string[])
    .option(
      '--log-key <origin-prefix=vkey>',
      'trusted transparency-log verifier key, bound to the origins it may sign for (registry.example.com/team/=name+hash+base64; a bare key is bound to the origin its key name names): resolved revisions must be in a checkpoint it signed, consistent with the last one accepted; repeatable',
      collect,
      [] as string[],
    )
    .option('--require-log', 'refuse archives from repositories without a transparency log (Resolved=False LogMissing)')
    .option(
      '--namespace-map <file>',
      'namespace mapping (YAML, as gantry.namespaces.yaml): short archive refs (acme/kv) in Providers resolve through it; in a cluster, mount the gantry-namespaces ConfigMap',
    )
    .option('--max-archive-bytes <size>', 'refuse archives larger than this (declared sizes, before reading), e.g. 256MiB', '256MiB')
    .option('--agent-lease-grace <duration>', 'an agent Lease older than this marks its node lost', '20s')
    .option(
      '--config-ref-ttl <duration>',
      "how long a Provider's configFrom ConfigMap/Secret read is trusted: a changed or rotated one is rolled out within about this",
      '10s',
    )
    .option('--metrics-addr <addr>', 'serve /metrics, /healthz, /readyz on HOST:PORT (e.g. 127.0.0.1:9090)')
    .option(
      '--nats <url>',
      'without the membrane: the NATS server(s), comma-separated, load reports are read from (plain; for tests and development — with --membrane-keys the controller connects to --membrane-nats with its own user)',
    )
    .option('--autoscale-interval <duration>', 'how often each Provider with spec.autoscale is decided on', '1s')
    .option('--autoscale-window <duration>', 'the span load figures (calls/s, in flight) are taken over', '6s')
    .option('--identity <id>', 'leader-election identity (default: hostname-pid)')
    .option(
      '--membrane-keys <dir>',
      "the membrane's key directory (operator, system and gantry account seeds; the gantry-membrane-keys Secret): mint instance credentials and CapabilityGrants",
    )
    .option(
      '--membrane-keys-secret <namespace/name>',
      "read the membrane's keys from this Secret through the API instead (deploy/: gantry-membrane/gantry-membrane-keys, a namespace no agent may read)",
    )
    .option(
      '--membrane-nats <urls>',
      'NATS server URL(s), comma-separated, that account updates are pushed to (with --membrane-keys; default $GANTRY_NATS_URL)',
    )
    .option(
      '--host-jwt-lifetime <duration>',
      "how long an instance host's JWT is valid (with --membrane-keys); it is renewed when a third remains",
      '1h',
    )
    .option(
      '--nats-ca <file>',
      "the bus CA's certificate: account updates go over TLS, the servers verified against it (default: $GANTRY_NATS_CA)",
    )
    .option(
      '--grant-jwt-lifetime <duration>',
      "the longest a CapabilityGrant's JWT lives (its exp; renewed with a third left, grantees fetch fresh creds); at least 1m",
      '24h',
    )
    .option('--leader-elect-lease-duration <duration>', 'how long a leader Lease is valid without renewal', '15s')
    .option('--leader-elect-renew-deadline <duration>', 'a leader that cannot renew within this stops acting', '10s')
    .option('--leader-elect-retry-period <duration>', 'how often candidates try to acquire or renew', '2s')
    .option(
      '--metrics-api-addr <addr>',
      'serve the external metrics API (external.metrics.k8s.io, for HPAs) on HOST:PORT over TLS; the aggregator reaches it through a Service endpoint, so not loopback',
    )
    .option('--metrics-api-tls-cert <file>', "the metrics API's serving certificate (valid for gantry-metrics-api.gantry-system.svc)")
    .option('--metrics-api-tls-key <file>', "the metrics API's serving key")
    .option(
      '--requestheader-client-ca <file>',
      "the aggregator's client CA (kube-apiserver --requestheader-client-ca-file); default: read kube-system/extension-apiserver-authentication",
    )
    .option('--requestheader-allowed-names <names>', 'with --requestheader-client-ca: the proxy certificate CNs allowed, comma-separated')
    .action(runController);
}

/** Starts the controller and runs it until SIGTERM/SIGINT; every flag is checked first (exit 2 naming it). */
async function runController(o: ControllerFlags): Promise<void> {
  const { agentLeaseGraceMs, configRefTtlMs, maxArchiveBytes, leaderElection, hostJwtLifetimeMs, grantJwtLifetimeMs, transferLimits } =
    checkFlags(o);
  const trustConfigMap = trustConfigMapOf(o, 'controller');
  const autoscale = autoscaleFlags(o, !!(o.membraneKeys || o.membraneKeysSecret));
  const metricsApi = metricsApiOf(o);
  const { loadKubeConfig } = await import('../runtime/kube.js');
  const kubeConfig = loadKubeConfig({ kubeconfigPath: o.kubeconfig });
  const membrane = await membraneOf(o, kubeConfig);
  await checkLogKeys(o.logKey);
  const namespaces = await namespaceMapOf(o.namespaceMap);
  const { startController } = await import('../controller/index.js');
  const ctl = await startController({
    membrane,
    kubeConfig,
    namespace: o.namespace,
    credentialsNamespace: o.credentialsNamespace,
    trustedIssuers: o.trustIssuer,
    trustConfigMap,
    namespaces,
    logKeys: o.logKey,
    requireLog: !!o.requireLog,
    plainHttpRegistries: o.plainHttpRegistry,
    maxArchiveBytes,
    transferLimits,
    agentLeaseGraceMs,
    configRefTtlMs,
    metricsAddr: o.metricsAddr,
    ...autoscale,
    identity: o.identity,
    leaderElection,
    hostJwtLifetimeMs,
    grantJwtLifetimeMs,
    metricsApi,
  });
  process.stderr.write(
    `gantry controller: watching (namespace ${o.namespace}${ctl.metricsUrl ? `, metrics ${ctl.metricsUrl}/metrics` : ''}${ctl.metricsApiUrl ? `, external metrics API ${ctl.metricsApiUrl}` : ''})\n`,
  );
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.stderr.write(`gantry controller: ${sig}, stopping\n`);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      ctl.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** --nats, --autoscale-interval and --autoscale-window, checked (exit 2 naming the flag). */
function autoscaleFlags(o: ControllerFlags, membrane: boolean) {
  const usage = (m: string) => Object.assign(new Error(`controller: ${m}`), { exitCode: 2 });
  if (o.nats && membrane)
    throw usage('--nats is for a controller without the membrane; with it the controller reads load reports from --membrane-nats');
  const autoscaleIntervalMs = parseDuration(o.autoscaleInterval, '--autoscale-interval');
  const autoscaleWindowMs = parseDuration(o.autoscaleWindow, '--autoscale-window');
  if (autoscaleIntervalMs < 100) throw usage(`--autoscale-interval ${o.autoscaleInterval}: at least 100ms`);
  // hosts report every second: a shorter window would often hold one report, and no rate
  if (autoscaleWindowMs < 2000) throw usage(`--autoscale-window ${o.autoscaleWindow}: at least 2s (hosts report every second)`);
  return { nats: o.nats, autoscaleIntervalMs, autoscaleWindowMs };
}

/** The external metrics API's settings, when --metrics-api-addr is given; exit 2 on a half-given set. */
function metricsApiOf(o: ControllerFlags) {
  const usage = (m: string) => Object.assign(new Error(`controller: ${m}`), { exitCode: 2 });
  if (!o.metricsApiAddr) {
    if (o.metricsApiTlsCert || o.metricsApiTlsKey || o.requestheaderClientCa || o.requestheaderAllowedNames)
      throw usage('--metrics-api-tls-cert, --metrics-api-tls-key and --requestheader-* need --metrics-api-addr');
    return undefined;
  }
  if (!o.metricsApiTlsCert || !o.metricsApiTlsKey)
    throw usage('--metrics-api-addr needs --metrics-api-tls-cert and --metrics-api-tls-key (it serves only TLS)');
  if (o.requestheaderAllowedNames && !o.requestheaderClientCa) throw usage('--requestheader-allowed-names needs --requestheader-client-ca');
  return {
    addr: o.metricsApiAddr,
    certFile: o.metricsApiTlsCert,
    keyFile: o.metricsApiTlsKey,
    requestHeaderCaFile: o.requestheaderClientCa,
    requestHeaderAllowedNames: o.requestheaderAllowedNames?.split(',').filter((n) => n !== ''),
  };
}

/** The bus CA's certificate (--nats-ca, else $GANTRY_NATS_CA), if given; exit 2 when it names no file. */
function natsCaOf(o: ControllerFlags): string | undefined {
  const caFile = o.natsCa ?? (process.env.GANTRY_NATS_CA || undefined);
  if (caFile && !existsSync(caFile)) throw Object.assign(new Error(`controller: --nats-ca ${caFile}: no such file`), { exitCode: 2 });
  return caFile;
}

/** The flags read as they are given: issuers, plain-HTTP registries, durations and sizes. */
function checkFlags(o: ControllerFlags) {
  natsCaOf(o);
  for (const k of o.trustIssuer) {
    if (!/^A[A-Z2-7]{55}$/.test(k))
      throw Object.assign(new Error(`--trust-issuer ${k}: not an account public key (A… 56 characters)`), { exitCode: 2 });
  }
  for (const h of o.plainHttpRegistry) {
    if (!/^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$/.test(h))
      throw Object.assign(new Error(`--plain-http-registry ${h}: expected HOST:PORT`), { exitCode: 2 });
  }
  const agentLeaseGraceMs = parseDuration(o.agentLeaseGrace, '--agent-lease-grace');
  const configRefTtlMs = parseDuration(o.configRefTtl, '--config-ref-ttl');
  const maxArchiveBytes = parseByteSize(o.maxArchiveBytes, '--max-archive-bytes');
  const leaderElection = {
    leaseDurationMs: parseDuration(o.leaderElectLeaseDuration, '--leader-elect-lease-duration'),
    renewDeadlineMs: parseDuration(o.leaderElectRenewDeadline, '--leader-elect-renew-deadline'),
    retryPeriodMs: parseDuration(o.leaderElectRetryPeriod, '--leader-elect-retry-period'),
  };
  // the same ordering kube-controller-manager insists on, or leadership flaps
  if (!(leaderElection.leaseDurationMs > leaderElection.renewDeadlineMs && leaderElection.renewDeadlineMs > leaderElection.retryPeriodMs)) {
    throw Object.assign(
      new Error('leader election: need --leader-elect-lease-duration > --leader-elect-renew-deadline > --leader-elect-retry-period'),
      { exitCode: 2 },
    );
  }
  const hostJwtLifetimeMs = parseDuration(o.hostJwtLifetime, '--host-jwt-lifetime');
  // under a few seconds a renewal cannot land before the JWT it replaces expires
  if (hostJwtLifetimeMs < 3000) throw Object.assign(new Error(`--host-jwt-lifetime ${o.hostJwtLifetime}: at least 3s`), { exitCode: 2 });
  const grantJwtLifetimeMs = parseDuration(o.grantJwtLifetime, '--grant-jwt-lifetime');
  // shorter, and renewals (at two thirds) come faster than grantees can fetch creds
  if (grantJwtLifetimeMs < 60_000)
    throw Object.assign(new Error(`--grant-jwt-lifetime ${o.grantJwtLifetime}: must be at least 1m`), { exitCode: 2 });
  return {
    agentLeaseGraceMs,
    configRefTtlMs,
    maxArchiveBytes,
    leaderElection,
    hostJwtLifetimeMs,
    grantJwtLifetimeMs,
    transferLimits: transferLimitsOf(o),
  };
}

/** With --membrane-keys: the membrane's authority and the NATS servers account updates go to. */
async function membraneOf(
  o: ControllerFlags,
  kubeConfig: import('../runtime/kube.js').KubeConfig,
): Promise<{ authority: MembraneAuthority; servers: string[] } | undefined> {
  if (o.membraneKeys && o.membraneKeysSecret)
    throw Object.assign(new Error('controller: give --membrane-keys or --membrane-keys-secret, not both'), { exitCode: 2 });
  if (o.membraneKeysSecret) {
    const servers = membraneServers(o);
    const [{ membraneAuthorityFromSecret }, { KubeClient }] = await Promise.all([
      import('../controller/index.js'),
      import('../runtime/kube.js'),
    ]);
    const kube = new KubeClient(kubeConfig);
    try {
      return { authority: withBusTls(await membraneAuthorityFromSecret(kube, o.membraneKeysSecret), o), servers };
    } finally {
      kube.close();
    }
  }
  if (!o.membraneKeys) return undefined;
  const servers = membraneServers(o);
  const { MembraneAuthority } = await import('../membrane/index.js');
  return { authority: withBusTls(MembraneAuthority.load(o.membraneKeys), o), servers };
}

/** Account updates go over TLS, the servers verified against the bus CA, when one is given. */
function withBusTls(authority: MembraneAuthority, o: ControllerFlags): MembraneAuthority {
  const caFile = natsCaOf(o);
  if (caFile) authority.busTls = { caFile };
  return authority;
}

function membraneServers(o: ControllerFlags): string[] {
  const servers = o.membraneNats ?? process.env.GANTRY_NATS_URL;
  if (!servers)
    throw Object.assign(
      new Error('controller: --membrane-keys needs --membrane-nats URL (or $GANTRY_NATS_URL) to push account updates to'),
      { exitCode: 2 },
    );
  return String(servers).split(',');
}

async function checkLogKeys(logKeys: string[]): Promise<void> {
  const { parseLogKeys } = await import('../controller/index.js');
  try {
    parseLogKeys(logKeys);
  } catch (e) {
    throw Object.assign(new Error(`--log-key: ${(e as Error).message}`), { exitCode: 2 });
  }
}

async function namespaceMapOf(path: string | undefined): Promise<NamespaceMap | undefined> {
  if (!path) return undefined;
  const { loadNamespaceMap } = await import('../registry/index.js');
  try {
    return loadNamespaceMap([{ path }]);
  } catch (e) {
    throw Object.assign(new Error(`--namespace-map: ${(e as Error).message}`), { exitCode: 2 });
  }
}
