/**
 * Provider: "run this archive, this many times, on nodes that can load it". The spec names an
 * archive (OCI repository + optional revision) and how to place and roll it; the controller
 * writes back what the revision resolved to, how many replicas are ready, and conditions
 * (`Resolved`, `Scheduled`, `Ready`, `Progressing`) whose reasons say what is wrong.
 */
import { z } from 'zod';
import {
  AccountKey,
  ArchiveRef,
  CapabilityId,
  Condition,
  Config,
  Digest,
  Resources,
  Target,
  apiVersion,
  intOrPercent,
  percentPattern,
  percentUpTo100Pattern,
} from './common.js';
import { ProviderHealth } from './health.js';
import { Spread, TopologySpread } from './spread.js';

export const Toleration = z.object({
  key: z.string().max(316).optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().max(63).optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']).optional(),
});
export type Toleration = z.infer<typeof Toleration>;

/** One object a Provider takes config keys from: a ConfigMap or a Secret of its own namespace. */
const ConfigObjectRef = z.object({
  name: z.string().min(1).max(253),
  optional: z.boolean().optional().describe('a missing object contributes nothing instead of stopping the rollout'),
});

export const ConfigSource = z
  .object({
    configMapRef: ConfigObjectRef.optional().describe("every key of the ConfigMap's data becomes a config key"),
    secretRef: ConfigObjectRef.optional().describe(
      'every key of the Secret becomes a secret config key: its value reaches only the nodes that run an instance, sealed, never an API object',
    ),
    keys: z
      .array(z.string().min(1).max(253))
      .max(256)
      .optional()
      .describe('take only these keys (a listed key missing from the object is ConfigResolved=False ConfigKeyNotFound)'),
  })
  // one source per item, so the merge order is the list order
  .refine((s) => !!s.configMapRef !== !!s.secretRef, { message: 'each configFrom item names exactly one of configMapRef or secretRef' });
export type ConfigSource = z.infer<typeof ConfigSource>;

/**
 * spec.autoscale: the controller scales spec.replicas with the calls (docs/autoscaling.md). With
 * it set the controller owns spec.replicas: the CRD's root rule (REPLICAS_OWNER_RULE) refuses any
 * other change of it, `kubectl scale` and an HPA included.
 */
export const Autoscale = z
  .object({
    minReplicas: z.int().min(0).max(100_000).optional().describe('fewest instances (default 1; 0 allows scale to zero)'),
    maxReplicas: z.int().min(1).max(100_000).describe('most instances (required, ≥ max(1, minReplicas))'),
    targetInFlightPerInstance: z
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('mean calls in flight each instance should carry (exactly one target)'),
    targetCallsPerSecondPerInstance: z
      .int()
      .min(1)
      .max(100_000_000)
      .optional()
      .describe('calls per second each instance should answer (exactly one target)'),
    scaleUpStabilizationSeconds: z
      .int()
      .min(0)
      .max(3600)
      .optional()
      .describe('a scale up takes the lowest recommendation of this many seconds (default 0)'),
    scaleDownStabilizationSeconds: z
      .int()
      .min(0)
      .max(3600)
      .optional()
      .describe('a scale down takes the highest recommendation of this many seconds (default 30)'),
    scaleToZeroAfterSeconds: z
      .int()
      .min(1)
      .max(86_400)
      .optional()
      .describe('with minReplicas 0: no call for this long scales to 0 (default 60); ignored otherwise'),
  })
  .refine((a) => (a.targetInFlightPerInstance === undefined) !== (a.targetCallsPerSecondPerInstance === undefined), {
    message: 'autoscale names exactly one target: targetInFlightPerInstance or targetCallsPerSecondPerInstance',
  })
  .refine((a) => a.maxReplicas >= (a.minReplicas ?? 1), {
    message: 'autoscale.maxReplicas must be at least minReplicas (default 1)',
    path: ['maxReplicas'],
  });
export type Autoscale = z.infer<typeof Autoscale>;

/** spec.autoscale with its defaults. */
export function autoscaleDefaults(a: Autoscale) {
  return {
    minReplicas: a.minReplicas ?? 1,
    maxReplicas: a.maxReplicas,
    target:
      a.targetInFlightPerInstance !== undefined
        ? { kind: 'inFlight' as const, perInstance: a.targetInFlightPerInstance }
        : { kind: 'callsPerSecond' as const, perInstance: a.targetCallsPerSecondPerInstance ?? 1 },
    scaleUpStabilizationSeconds: a.scaleUpStabilizationSeconds ?? 0,
    scaleDownStabilizationSeconds: a.scaleDownStabilizationSeconds ?? 30,
    scaleToZeroAfterSeconds: a.scaleToZeroAfterSeconds ?? 60,
  };
}
export type AutoscaleSettings = ReturnType<typeof autoscaleDefaults>;

export const ProviderSpec = z.object({
  archive: z.object({
    ref: ArchiveRef.describe(
      'OCI repository (host[:port]/path), a short name (acme/kv) mapped by the controller --namespace-map file, or oci-layout:DIR holding the archive',
    ),
    revision: z.int().min(1).max(2_147_483_647).optional().describe('archive revision; absent = highest published'),
    digest: Digest.optional().describe(
      'pins the manifest digest the revision must resolve to (gantry lock writes it); any other digest is refused (Resolved=False DigestPinMismatch)',
    ),
    pullSecrets: z
      .array(z.object({ name: z.string().min(1).max(253) }))
      .max(16)
      .optional()
      .describe('dockerconfigjson Secrets in this namespace'),
    requireLog: z
      .boolean()
      .optional()
      .describe(
        'refuse a repository without a transparency log signed by a trusted log key (the controller --require-log does this for every Provider)',
      ),
  }),
  replicas: z
    .int()
    .min(0)
    .max(100_000)
    .optional()
    .describe('instances to run in Spread mode (default 1); with spec.autoscale the controller writes it'),
  autoscale: Autoscale.optional().describe('scale spec.replicas with the calls (docs/autoscaling.md); Spread mode only'),
  mode: z.enum(['Spread', 'Daemon']).optional().describe('Spread (default): spec.replicas instances; Daemon: one per eligible node'),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  tolerations: z.array(Toleration).max(64).optional(),
  capabilityId: CapabilityId.optional().describe('expected capability id; must match the signed claims'),
  linkName: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_.-]*$/)
    .max(63)
    .optional(),
  config: Config.optional().describe('passed to the provider at start; wins over configFrom'),
  configFrom: z
    .array(ConfigSource)
    .max(16)
    .optional()
    .describe(
      'ConfigMaps and Secrets of this namespace whose keys become top-level config keys, merged in order (later items win, spec.config wins last)',
    ),
  resources: Resources.optional().describe('limits of each instance, enforced by the agent for its host process'),
  trust: z
    .object({ issuers: z.array(AccountKey).max(64) })
    .optional()
    .describe(
      'narrows the trusted issuers of the cluster (--trust-issuer of the controller and agents) to these account keys; a key the cluster does not trust is refused, never added',
    ),
  rollout: z
    .object({
      maxUnavailable: intOrPercent(100_000, percentUpTo100Pattern)
        .optional()
        .describe('instances (e.g. 1) or percent of desired, rounded down (e.g. 25%); default 1'),
      maxSurge: intOrPercent(100_000, percentPattern)
        .optional()
        .describe('instances (e.g. 1) or percent of desired, rounded up (e.g. 25%); default 0'),
      progressDeadlineSeconds: z.int().min(1).max(86_400).optional().describe('default 600'),
    })
    // as for Deployments: with neither unavailability nor surge a rollout could never move
    .refine((r) => !(isZero(r.maxUnavailable ?? 1) && isZero(r.maxSurge ?? 0)), {
      message:
        'maxUnavailable and maxSurge cannot both be 0: a rollout could never replace an instance; allow maxUnavailable ≥ 1 or maxSurge ≥ 1',
      path: ['maxUnavailable'],
    })
    .optional(),
  allowMultiplePerNode: z.boolean().optional().describe('allow more than one instance of this Provider per node'),
  health: ProviderHealth.optional(),
  paused: z
    .boolean()
    .optional()
    .describe('while true, a changed template is not rolled out (scaling still is); gantry rollout pause|resume'),
  topologySpread: TopologySpread.optional().describe(
    "spread the replicas over node label domains, as a Pod's topologySpreadConstraints (Spread mode only)",
  ),
  spread: Spread.optional().describe(
    "divide the replicas over node label groups in proportion to weight, as wadm's spread scaler (Spread mode only)",
  ),
  revisionHistoryLimit: z
    .int()
    .min(0)
    .max(1000)
    .optional()
    .describe('old template revisions (ControllerRevisions) kept for gantry rollout undo (default 10)'),
});
export type ProviderSpec = z.infer<typeof ProviderSpec>;

function isZero(v: number | string): boolean {
  return v === 0 || v === '0%';
}

export const ResolvedArchive = z.object({
  ref: z
    .string()
    .optional()
    .describe('the archive.ref the revision was resolved in (a moved revision is only judged within one repository)'),
  revision: z.int().min(0),
  digest: Digest,
  version: z.string().optional(),
  capid: z.string().optional(),
  name: z.string().optional(),
  issuer: z.string().optional(),
  subject: z.string().optional(),
  targets: z.array(Target),
});
export type ResolvedArchive = z.infer<typeof ResolvedArchive>;

/** The last log checkpoint the controller accepted for this Provider: later ones must extend it. */
export const LogMemory = z.object({
  origin: z.string().describe('the log (checkpoint origin line) this checkpoint belongs to'),
  size: z.int().min(0),
  rootHash: z.string().describe('base64 RFC 6962 root of the first `size` entries'),
  checkpoint: z.string().max(8192).optional().describe('the signed checkpoint note as accepted'),
  revisionIndex: z.int().min(0).optional().describe('the log index of the resolved revision'),
});
export type LogMemory = z.infer<typeof LogMemory>;

/** What the autoscaler decided last, and on which figures (figures as decimal strings: no floats in the CRD). */
export const AutoscaleStatus = z.object({
  desiredReplicas: z.int().min(0).optional().describe('the replicas spec.autoscale wants: the only value spec.replicas may be changed to'),
  reason: z.string().max(64).optional().describe('the last decision: ScaledUp, ScaledDown, ScaledToZero, Activated, Steady, …'),
  message: z.string().max(1024).optional(),
  lastScaleTime: z.string().optional().describe('when spec.replicas was last changed by the autoscaler'),
  callsPerSecond: z.string().max(32).optional().describe('calls per second over the window, summed over instances'),
  inFlight: z.string().max(32).optional().describe('mean calls in flight over the window, summed over instances'),
});
export type AutoscaleStatus = z.infer<typeof AutoscaleStatus>;

export const ProviderStatus = z.object({
  observedGeneration: z.int().min(0).optional(),
  replicas: z.int().min(0).optional(),
  readyReplicas: z.int().min(0).optional(),
  updatedReplicas: z.int().min(0).optional(),
  desiredReplicas: z.int().min(0).optional(),
  selector: z.string().optional(),
  resolved: ResolvedArchive.optional(),
  log: LogMemory.optional().describe(
    'the last transparency-log checkpoint accepted for this Provider (kept across controller restarts: a rollback or fork against it is LogInconsistent)',
  ),
  progressingSince: z.string().optional().describe('when the current rollout began'),
  templateHash: z
    .string()
    .optional()
    .describe('the template hash (gantry.dev/template-hash) of the instances being rolled out to: the one updatedReplicas counts'),
  currentRevision: z.int().min(0).optional().describe('the history revision (ControllerRevision) of the current template'),
  autoscale: AutoscaleStatus.optional().describe('the autoscaler (spec.autoscale): its last decision and figures'),
  conditions: z.array(Condition).optional(),
});
export type ProviderStatus = z.infer<typeof ProviderStatus>;

export const Provider = z.object({
  apiVersion: z.literal(apiVersion),
  kind: z.literal('Provider'),
  metadata: z.object({}).passthrough(),
  spec: ProviderSpec,
  status: ProviderStatus.optional(),
});

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
  finalizers?: string[];
}

export interface Provider {
  apiVersion: typeof apiVersion;
  kind: 'Provider';
  metadata: ObjectMeta;
  spec: ProviderSpec;
  status?: ProviderStatus;
}

export function providerDefaults(spec: ProviderSpec) {
  return {
    replicas: spec.replicas ?? 1,
    mode: spec.mode ?? 'Spread',
    maxUnavailable: spec.rollout?.maxUnavailable ?? 1,
    maxSurge: spec.rollout?.maxSurge ?? 0,
    progressDeadlineSeconds: spec.rollout?.progressDeadlineSeconds ?? 600,
    linkName: spec.linkName ?? 'default',
    revisionHistoryLimit: spec.revisionHistoryLimit ?? 10,
  };
}
