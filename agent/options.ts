/**
 * What `startAgent` is given (the `gantry agent` flags, from code the sandbox launcher's
 * options) and what the agent makes of it: the usage errors found before anything starts and
 * the defaults filled in.
 */
import type { TransferLimits } from '../registry/index.js';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultCredentialsNamespace, defaultNamespace } from '../api/index.js';
import { UsageError } from '../runtime/errors.js';
import type { KubeConfig } from '../runtime/kube.js';
import { parseListenAddr } from '../runtime/metrics-server.js';
import type { NatsOptions } from './host/nats.js';
import { defaultMaxInstances, MAX_INSTANCES_LIMIT, nodeMemoryBytes } from './admission.js';
import { hostTarget, parseTarget } from './target.js';

export interface AgentOptions {
  kubeConfig: KubeConfig;
  /** The node this agent serves (NODE_NAME from the downward API in a DaemonSet). */
  node: string;
  natsUrl: string;
  /** NATS credentials and TLS beyond the URL, passed on to every provider host. */
  nats?: Omit<NatsOptions, 'servers'>;
  /** Where the Lease lives (default gantry-system). */
  namespace?: string;
  /** Where the instances' sealed pull credentials are (default gantry-nodes); the agent reads no Secret elsewhere. */
  credentialsNamespace?: string;
  /** Default ~/.cache/gantry/agent-<node>. */
  cacheDir?: string;
  /** Account keys (A…) whose signatures this agent accepts, besides each instance's spec.issuers. */
  trustedIssuers?: string[];
  /** Watch this ConfigMap for the trusted issuers instead (--trust-configmap; agent/trust-follow.ts). */
  trustConfigMap?: { namespace: string; name: string };
  /** Registries (HOST:PORT) reachable only over plain HTTP. */
  plainHttpRegistries?: string[];
  /** Override the detected target, e.g. for a foreign-arch sandbox node. */
  target?: string;
  /** Archives larger than this are refused from their manifest, before a byte is read (default 256 MiB). */
  maxArchiveBytes?: number;
  /** Every registry request's deadline and minimum transfer rate (default DEFAULT_TRANSFER_LIMITS). */
  transferLimits?: TransferLimits;
  /** Maximum bytes of the archive cache. */
  cacheMaxBytes?: number;
  /** Lease renewal period (default 10 s). /readyz fails once the last good renewal is 3 periods old. */
  renewIntervalMs?: number;
  /** HOST:PORT for /metrics, /healthz, /readyz (none when absent), as the controller's. */
  metricsAddr?: string;
  /** /healthz fails for twice this long after the event loop stalled longer than this (default 10 s). */
  maxEventLoopStallMs?: number;
  /**
   * The membrane: each host connects as its own instance, with a key the agent makes on this
   * node (status.hostKey) and the JWT the controller mints for it (status.hostJwt), written to
   * a 0600 creds file for the host (agent/host-identity.ts) instead of `nats` credentials.
   */
  membrane?: boolean;
  /** The gantry account's public key (A…): a host JWT the controller writes must be signed by it (agent/host-identity.ts). */
  membraneAccount?: string;
  /**
   * The node's host keeper socket (agent/keeper/): hosts run in the keeper, which outlives this
   * agent; a restarted agent adopts them instead of restarting them. Without it hosts are this
   * process's children and a restart reaps them (agent/host-records.ts).
   */
  hostKeeper?: string;
  /**
   * Provider host processes kept started and idle for instances to claim (agent/host/pool.ts):
   * an instance then skips Node.js boot, most of its start. Each idle one costs ~20 MiB PSS.
   * Default 2; 0 forks every host on demand.
   */
  hostPoolSize?: number;
  /** Without hostCgroup: how often each host's RSS is checked against its instance's resources.memory (default 250 ms; 0 never). */
  memoryCheckMs?: number;
  /**
   * A writable cgroup directory (v1 memory hierarchy, or v2 with memory in its
   * cgroup.subtree_control): each host with a resources.memory runs in a child cgroup limited
   * to it, and the kernel enforces it (agent/host/memory-cgroup-dir.ts). A directory that is
   * missing, not writable or without the memory controller is a usage error, never a fallback.
   */
  hostCgroup?: string;
  /**
   * At most this many instances run at once; the others wait (Pending, InstanceLimit) and the
   * controller reads the cap from the Lease. Default: half the node's memory at 64 MiB per host,
   * at least 8 (agent/admission.ts).
   */
  maxInstances?: number;
  /** How often each host publishes its LoadReport on NATS for the autoscaler (client/load.ts), in ms (default 1000; 0: never). */
  loadReportMs?: number;
}

/** The options every part needs, checked and with their defaults. */
export interface AgentSettings {
  node: string;
  target: string;
  /** The Gantry namespace: the Lease. */
  namespace: string;
  /** The instances' sealed pull credentials: the only Secrets the agent reads. */
  credentialsNamespace: string;
  cacheDir: string;
  renewIntervalMs: number;
  /** The cap on running instances, published on the Lease. */
  maxInstances: number;
}

export function defaultCacheDir(node: string): string {
  return process.env.GANTRY_CACHE_DIR ?? join(homedir(), '.cache', 'gantry', `agent-${node}`);
}

/** Usage errors (exit 2) before anything starts, then the defaults. */
export function agentSettings(opts: AgentOptions): AgentSettings {
  if (!opts.node) throw new UsageError('AGENT_NO_NODE', 'gantry agent: a node name is required (--node or NODE_NAME)');
  if (!opts.natsUrl) throw new UsageError('AGENT_NO_NATS', 'gantry agent: a NATS URL is required (--nats)');
  if (opts.metricsAddr) parseListenAddr(opts.metricsAddr);
  const maxInstances = opts.maxInstances ?? defaultMaxInstances(nodeMemoryBytes());
  if (!Number.isInteger(maxInstances) || maxInstances < 1 || maxInstances > MAX_INSTANCES_LIMIT)
    throw new UsageError(
      'AGENT_BAD_MAX_INSTANCES',
      `gantry agent: --max-instances must be a whole number from 1 to ${MAX_INSTANCES_LIMIT}, not "${opts.maxInstances}"`,
    );
  const r = opts.loadReportMs;
  if (r !== undefined && !(Number.isInteger(r) && r >= 0))
    throw new UsageError(
      'AGENT_BAD_LOAD_REPORT_INTERVAL',
      `gantry agent: the load report interval must be a whole number of ms ≥ 0, not "${r}"`,
    );
  return {
    node: opts.node,
    target: opts.target ? parseTarget(opts.target) : hostTarget(),
    namespace: opts.namespace ?? defaultNamespace,
    credentialsNamespace: opts.credentialsNamespace ?? defaultCredentialsNamespace,
    cacheDir: opts.cacheDir ?? defaultCacheDir(opts.node),
    renewIntervalMs: opts.renewIntervalMs ?? 10_000,
    maxInstances,
  };
}
