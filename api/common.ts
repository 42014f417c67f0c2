/**
 * Vocabulary shared by the Gantry resources: the API group, label keys, the patterns for
 * capability ids, targets and archive refs, and the mapping from a Node's well-known
 * `kubernetes.io/arch` / `kubernetes.io/os` labels to a PAR target (`x86_64-linux`).
 */
import { z } from 'zod';

export const group = 'gantry.dev';
export const version = 'v1alpha1';
export const apiVersion = `${group}/${version}`;

export const labels = {
  provider: 'gantry.dev/provider',
  node: 'gantry.dev/node',
  /** On each instance: the hash of its spec without node and target (controller/providers/template-hash.ts), as a Pod's pod-template-hash. */
  templateHash: 'gantry.dev/template-hash',
} as const;

export const annotations = {
  /** On an agent Lease: the target the agent can really load. */
  agentTarget: 'gantry.dev/target',
  /**
   * On an agent Lease: the node's X25519 public key (NATS xkey, `X…`) that the controller seals
   * the node's instances' pull credentials to; the private half never leaves the node.
   */
  nodeSealKey: 'gantry.dev/seal-key',
  /** On an agent Lease: how many instances the agent runs at most (`gantry agent --max-instances`). */
  agentMaxInstances: 'gantry.dev/max-instances',
  /**
   * On an agent Lease: until when (RFC 3339) an agent that stopped and left its hosts to the node's
   * host keeper asks the controller not to call the node lost, so that its successor can adopt
   * them (a DaemonSet pod replaced); the controller bounds it (controller/providers/scheduling/nodes.ts).
   */
  agentHandoverUntil: 'gantry.dev/handover-until',
} as const;

const agentLeasePrefix = 'gantry-agent-';

/** Agent liveness Lease name for a node. */
export function agentLeaseName(node: string): string {
  return agentLeasePrefix + node;
}

/** The node an agent liveness Lease speaks for; undefined for any other Lease. */
export function nodeOfAgentLease(lease: string): string | undefined {
  return lease.startsWith(agentLeasePrefix) && lease.length > agentLeasePrefix.length ? lease.slice(agentLeasePrefix.length) : undefined;
}

export const defaultNamespace = 'gantry-system';
/**
 * Where the controller writes each instance's pull credential, sealed to its node's key: the
 * one namespace whose Secrets agents may read, so it holds nothing but ciphertext
 * (docs/security.md, "What one node can still reach").
 */
export const defaultCredentialsNamespace = 'gantry-nodes';

// e.g. `wascap:keyvalue`, `wasmcloud:httpserver`, `acme:kv.v2`
export const capabilityIdPattern = '^[a-z0-9][a-z0-9_.-]*:[a-z0-9][a-z0-9_.-]*$';
// e.g. `x86_64-linux`, `aarch64-macos`
export const targetPattern = '^[a-z0-9_]+-[a-z0-9_]+$';
// an OCI repository (`host[:port]/path`, no tag or digest) or an `oci-layout:` directory
export const archiveRefPattern = '^(oci-layout:.+|[a-zA-Z0-9.-]+(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+)$';
export const digestPattern = '^sha256:[a-f0-9]{64}$';
// nkey account public key: `A` + 55 base32 chars
export const accountKeyPattern = '^A[A-Z2-7]{55}$';
export const dnsLabelPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export const CapabilityId = z.string().regex(new RegExp(capabilityIdPattern)).max(253);
export const Target = z.string().regex(new RegExp(targetPattern)).max(64);
export const ArchiveRef = z.string().regex(new RegExp(archiveRefPattern)).max(1024);
export const Digest = z.string().regex(new RegExp(digestPattern));
export const AccountKey = z.string().regex(new RegExp(accountKeyPattern));

/**
 * An integer or a percentage string (`25%`), as Kubernetes' IntOrString in Deployments. The CRD
 * renders it as `x-kubernetes-int-or-string` (see crds.ts); percentages are resolved against
 * the desired count by the controller (controller/rollout.ts `resolveFenceposts`).
 */
export function intOrPercent(maxInt: number, percentPattern: string) {
  return z.union([z.int().min(0).max(maxInt), z.string().regex(new RegExp(percentPattern))]).meta({ 'x-kubernetes-int-or-string': true });
}
export type IntOrPercent = number | string;
// 0%–100%: an availability budget cannot exceed the whole
export const percentUpTo100Pattern = '^(100|[1-9]?[0-9])%$';
// 0%–9999%: a surge may exceed the desired count
export const percentPattern = '^(0|[1-9][0-9]{0,3})%$';

/** A byte quantity as Kubernetes writes it: 64Mi, 1Gi, 500M, 1048576. */
export const memoryQuantityPattern = '^[1-9][0-9]{0,12}(Ki|Mi|Gi|Ti|k|M|G|T)?$';
const memoryUnits: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
/** Bytes of a quantity matching memoryQuantityPattern. */
export function parseMemoryQuantity(q: string): number {
  const m = /^([0-9]+)([A-Za-z]*)$/.exec(q);
  const unit = m ? memoryUnits[m[2]!] : undefined;
  if (!m || unit === undefined) throw new Error(`"${q}" is not a memory quantity (e.g. 64Mi, 1Gi)`);
  return Number(m[1]) * unit;
}
/** A duration: 500ms, 10s, 2m. */
export const durationPattern = '^[1-9][0-9]{0,8}(ms|s|m)$';
/** Milliseconds of a duration matching durationPattern. */
export function parseDurationMs(d: string): number {
  const m = /^([0-9]+)(ms|s|m)$/.exec(d);
  if (!m) throw new Error(`"${d}" is not a duration (e.g. 500ms, 10s, 2m)`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

/**
 * What one instance may take, enforced for its host process by the agent: `memory` (the
 * process is killed over it, reason OOMKilled, and restarted with backoff), `maxInFlight`
 * (calls at once; more are refused OVERLOADED) and `callTimeout` (each call's deadline).
 */
export const Resources = z.object({
  memory: z
    .string()
    .regex(new RegExp(memoryQuantityPattern))
    .optional()
    .describe(
      "most memory one instance's host process may use (e.g. 64Mi, 1Gi); over it the host is killed (reason OOMKilled) and restarted with backoff",
    ),
  maxInFlight: z
    .int()
    .min(1)
    .max(65_536)
    .optional()
    .describe('calls one instance runs at once; more are refused with OVERLOADED (default 256)'),
  callTimeout: z
    .string()
    .regex(new RegExp(durationPattern))
    .optional()
    .describe('deadline of one call (e.g. 500ms, 10s; default 10s); a caller can only shorten it'),
});
export type Resources = z.infer<typeof Resources>;

/** Free-form JSON object passed to the provider at start. */
export const Config = z.record(z.string(), z.unknown()).meta({ 'x-kubernetes-preserve-unknown-fields': true });

export const Condition = z.object({
  type: z.string().min(1).max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().max(1024).optional(),
  message: z.string().max(32768).optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.int().min(0).optional(),
});
export type Condition = z.infer<typeof Condition>;

/** Kubernetes `kubernetes.io/arch` label → PAR arch (DESIGN.md, Contracts). */
export const KUBE_ARCH_TO_PAR: Readonly<Record<string, string>> = {
  amd64: 'x86_64',
  arm64: 'aarch64',
  arm: 'arm',
  '386': 'x86',
  ppc64le: 'powerpc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};
/** Kubernetes `kubernetes.io/os` label → PAR os. */
export const KUBE_OS_TO_PAR: Readonly<Record<string, string>> = { linux: 'linux', darwin: 'macos', windows: 'windows', freebsd: 'freebsd' };

/** The PAR target for a Node's arch/os labels, or undefined when either is unknown or missing. */
export function targetForNode(nodeLabels: Record<string, string> | undefined): string | undefined {
  const arch = KUBE_ARCH_TO_PAR[nodeLabels?.['kubernetes.io/arch'] ?? ''];
  const os = KUBE_OS_TO_PAR[nodeLabels?.['kubernetes.io/os'] ?? ''];
  return arch && os ? `${arch}-${os}` : undefined;
}

/** "arm64/linux" — how a node group is named in user-facing messages. */
export function nodePlatform(nodeLabels: Record<string, string> | undefined): string {
  return `${nodeLabels?.['kubernetes.io/arch'] ?? '?'}/${nodeLabels?.['kubernetes.io/os'] ?? '?'}`;
}
