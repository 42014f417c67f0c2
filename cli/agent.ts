/**
 * `gantry agent` — run the node agent in the foreground until SIGTERM/SIGINT, which stop
 * every provider host gracefully. Outside a cluster give `--kubeconfig` and `--node`; in a
 * DaemonSet the in-cluster service account and `NODE_NAME` (downward API) are used.
 */
import { trustConfigMapFlag, trustConfigMapOf } from './trust-flags.js';
import { type Command, Option } from 'commander';
import { collect, parseByteSize, parseDuration } from './options.js';
import { transferLimitFlags, transferLimitsOf } from './transfer-flags.js';
import { DEFAULT_HOST_POOL_SIZE } from '../agent/host/pool.js';

const MAX_INSTANCES_HELP =
  'run at most N instances; the rest wait (Pending, InstanceLimit) and the controller places no more here ' +
  '(default: half the node memory at 64 MiB per provider host, at least 8)';

export function registerAgent(program: Command): void {
  trustConfigMapFlag(transferLimitFlags(program.command('agent')))
    .description('run the node agent: verify, load and serve the providers bound to this node')
    .option('--kubeconfig <file>', 'kubeconfig file (default: in-cluster service account)')
    .option('--node <name>', "this node's name (default: $NODE_NAME)")
    .option('--nats <url>', 'NATS server URL(s), comma-separated (default: $GANTRY_NATS_URL)')
    .option('--namespace <ns>', 'namespace of the agent Lease', 'gantry-system')
    .option('--credentials-namespace <ns>', CREDENTIALS_NAMESPACE_HELP, 'gantry-nodes')
    .option('--cache-dir <dir>', 'archives, extracted libraries and host records (default ~/.cache/gantry/agent-<node>)')
    .option('--trust-issuer <key>', 'account key (A…) whose archives may be loaded; repeatable', collect, [] as string[])
    .option('--plain-http-registry <host:port>', 'registry reachable only over plain HTTP; repeatable', collect, [] as string[])
    .option('--max-archive-bytes <size>', 'refuse archives larger than this (declared sizes, before reading), e.g. 256MiB', '256MiB')
    .addOption(new Option('--target <arch-os>', 'override the detected target (foreign-arch sandbox nodes)').hideHelp())
    .option('--nats-token <token>', 'NATS token (default: $GANTRY_NATS_TOKEN)')
    .option('--nats-creds <file>', 'NATS user JWT .creds file')
    .option('--nats-nkey <seed>', 'NATS nkey seed (default: $GANTRY_NATS_NKEY)')
    .option('--nats-ca <file>', "the bus CA's certificate: NATS over TLS, servers verified against it (default: $GANTRY_NATS_CA)")
    .option('--nats-cert <file>', 'client certificate for NATS mutual TLS (with --nats-key)')
    .option('--nats-key <file>', 'client key for NATS mutual TLS (with --nats-cert)')
    .option(
      '--metrics-addr <addr>',
      'serve /metrics, /healthz, /readyz on HOST:PORT, e.g. 127.0.0.1:9091 (default: $GANTRY_METRICS_ADDR, else none)',
    )
    .option(
      '--host-pool <n>',
      'provider host processes kept started and idle, claimed by starting instances (0: fork on demand)',
      String(DEFAULT_HOST_POOL_SIZE),
    )
    .option('--max-instances <n>', MAX_INSTANCES_HELP)
    .option('--host-cgroup <dir>', HOST_CGROUP_HELP)
    .option('--membrane', MEMBRANE_HELP)
    .option('--membrane-account <key>', MEMBRANE_ACCOUNT_HELP)
    .option('--load-report-interval <duration>', LOAD_REPORT_HELP, '1s')
    .option('--host-keeper <socket>', HOST_KEEPER_HELP)
    .action(async (o) => {
      const node = o.node ?? process.env.NODE_NAME;
      if (!node) throw Object.assign(new Error('agent: no node name; pass --node NAME or set NODE_NAME'), { exitCode: 2 });
      const natsUrl = o.nats ?? process.env.GANTRY_NATS_URL;
      if (!natsUrl) throw Object.assign(new Error('agent: no NATS server; pass --nats URL'), { exitCode: 2 });
      if (!o.natsCert !== !o.natsKey)
        throw Object.assign(new Error('agent: --nats-cert and --nats-key go together (mutual TLS needs both)'), { exitCode: 2 });
      const trustConfigMap = trustConfigMapOf(o, 'agent');
      const maxArchiveBytes = parseByteSize(o.maxArchiveBytes, '--max-archive-bytes');
      const transferLimits = transferLimitsOf(o);
      const { hostPoolSize, maxInstances } = counts(o);
      const membraneAccount = membraneAccountOf(o.membraneAccount);
      const loadReportMs = parseDuration(o.loadReportInterval, '--load-report-interval');
      const token = o.natsToken ?? process.env.GANTRY_NATS_TOKEN;
      const nkeySeed = o.natsNkey ?? process.env.GANTRY_NATS_NKEY;
      // loaded on use, so other commands do not pay for (or depend on) the agent's imports
      const { startAgent } = await import('../agent/index.js');
      const agent = await startAgent({
        kubeConfig: (await import('../runtime/kube.js')).loadKubeConfig({ kubeconfigPath: o.kubeconfig }),
        node,
        natsUrl,
        nats: { token, nkeySeed, credsFile: o.natsCreds, tls: natsTls(o) }, // the hosts it starts get the same TLS files
        namespace: o.namespace,
        credentialsNamespace: o.credentialsNamespace,
        cacheDir: o.cacheDir,
        trustedIssuers: o.trustIssuer,
        trustConfigMap,
        plainHttpRegistries: o.plainHttpRegistry,
        maxArchiveBytes,
        transferLimits,
        target: o.target,
        metricsAddr: o.metricsAddr ?? (process.env.GANTRY_METRICS_ADDR || undefined),
        membrane: !!o.membrane,
        membraneAccount,
        hostPoolSize,
        maxInstances,
        hostCgroup: o.hostCgroup ?? (process.env.GANTRY_HOST_CGROUP || undefined),
        loadReportMs,
        hostKeeper: o.hostKeeper,
      });
      process.stderr.write(startedLine(node, agent));
      await runUntilStopped(agent);
    });
}

/** Run until a signal stops the agent, or until it cannot go on (its host keeper went away): then exit 1. */
async function runUntilStopped(agent: { stop(): Promise<void>; lost: Promise<string> }): Promise<void> {
  const lost = await Promise.race([stopOnSignal(agent).then(() => undefined), agent.lost]);
  if (!lost) return;
  process.stderr.write(`gantry agent: ${lost}; exiting\n`);
  await agent.stop();
  process.exitCode = 1;
}

/** Run until SIGTERM or SIGINT, then stop the agent (its hosts gracefully, unless they live in a host keeper). */
function stopOnSignal(agent: { stop(): Promise<void> }): Promise<void> {
  return new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.stderr.write(`gantry agent: ${sig}, stopping (provider hosts in a host keeper keep serving)\n`);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      agent.stop().then(resolve, resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

function startedLine(node: string, a: { target: string; maxInstances: number; memoryEnforcement: string; metricsUrl?: string }): string {
  const metrics = a.metricsUrl ? ` (metrics ${a.metricsUrl}/metrics)` : '';
  return `gantry agent: node ${node}, target ${a.target}, at most ${a.maxInstances} instances, memory capped by ${a.memoryEnforcement}, serving${metrics}\n`;
}

function natsTls(o: {
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
}): { caFile?: string; certFile?: string; keyFile?: string } | undefined {
  const caFile = o.natsCa ?? (process.env.GANTRY_NATS_CA || undefined);
  if (!caFile && !o.natsCert) return undefined;
  return { caFile, certFile: o.natsCert, keyFile: o.natsKey };
}

const HOST_CGROUP_HELP =
  'a writable memory cgroup directory (v1 memory hierarchy, or v2 with +memory in cgroup.subtree_control): each host runs in a ' +
  'child cgroup limited to its resources.memory, enforced by the kernel (default: $GANTRY_HOST_CGROUP, else RSS polling)';
const HOST_KEEPER_HELP =
  "the node's host keeper socket (gantry host-keeper): hosts run there and outlive this agent, which adopts them when it restarts";
const LOAD_REPORT_HELP =
  "how often each provider host publishes its load (calls, in flight) on NATS for the controller's autoscaler; 0 turns it off";
const MEMBRANE_HELP =
  'hosts connect as their own instance, with a key made on this node and a JWT the controller signs for it (NATS in operator mode)';
const MEMBRANE_ACCOUNT_HELP =
  "with --membrane: the gantry account's public key (A…); a host JWT not signed by it is not used ($GANTRY_MEMBRANE_ACCOUNT)";

/** --membrane-account (or $GANTRY_MEMBRANE_ACCOUNT): an account public key, checked up front. */
function membraneAccountOf(flag: string | undefined): string | undefined {
  const key = flag ?? (process.env.GANTRY_MEMBRANE_ACCOUNT || undefined);
  if (key !== undefined && !/^A[A-Z2-7]{55}$/.test(key))
    throw Object.assign(new Error(`agent: --membrane-account ${key}: not an account public key (A… 56 characters)`), { exitCode: 2 });
  return key;
}

/** The numeric flags, checked: --host-pool and --max-instances (whose range the agent's options check). */
function counts(o: { hostPool: string; maxInstances?: string }): { hostPoolSize: number; maxInstances?: number } {
  const hostPoolSize = Number(o.hostPool);
  if (!Number.isInteger(hostPoolSize) || hostPoolSize < 0 || hostPoolSize > 64)
    throw Object.assign(new Error(`agent: --host-pool must be an integer from 0 to 64, not "${o.hostPool}"`), { exitCode: 2 });
  // only digits: Number() would take "0x10" or "1e3"
  if (o.maxInstances !== undefined && !/^[0-9]+$/.test(o.maxInstances))
    throw Object.assign(new Error(`agent: --max-instances must be a whole number, not "${o.maxInstances}"`), { exitCode: 2 });
  return { hostPoolSize, maxInstances: o.maxInstances === undefined ? undefined : Number(o.maxInstances) };
}

const CREDENTIALS_NAMESPACE_HELP =
  "where the controller writes the instances' pull credentials, sealed to their node (the only Secrets the agent reads)";
