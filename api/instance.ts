/**
 * ProviderInstance: one placed replica of a Provider, bound to a node. The controller
 * creates it (owned by the Provider, labelled `gantry.dev/provider` and `gantry.dev/node`)
 * with everything the node agent needs — the archive by digest, the target to load, the
 * config — so the agent never reads the Provider. The spec is immutable once bound; a new
 * revision means a new instance. The agent reports progress in `status.phase`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ArchiveRef, CapabilityId, Condition, Config, Digest, Resources, Target, type apiVersion } from './common.js';
import { ProviderHealth } from './health.js';
import type { ObjectMeta } from './provider.js';

export const instancePhases = ['Pending', 'Fetching', 'Verifying', 'Starting', 'Running', 'Failed', 'Terminating'] as const;
export const InstancePhase = z.enum(instancePhases);
export type InstancePhase = z.infer<typeof InstancePhase>;

export const ProviderInstanceSpec = z.object({
  provider: z.string().min(1).max(253).describe('name of the owning Provider'),
  nodeName: z.string().min(1).max(253),
  archive: z.object({
    ref: ArchiveRef,
    digest: Digest,
    revision: z.int().min(0),
    pullSecrets: z
      .array(z.object({ name: z.string().min(1).max(253) }))
      .max(16)
      .optional(),
  }),
  target: Target,
  capid: CapabilityId.optional(),
  linkName: z.string().max(63).optional(),
  config: Config.optional(),
  secretConfig: z
    .object({
      keys: z
        .array(z.string().min(1).max(253))
        .max(256)
        .describe('config keys whose values reach the node sealed to its key, never in this object'),
      sources: z
        .array(z.object({ name: z.string().min(1).max(253), resourceVersion: z.string().max(64) }))
        .max(16)
        .describe("the Provider's referenced Secrets and the resourceVersions their values were read at"),
    })
    .optional()
    .describe('the part of the config that comes from Secrets (controller/credentials/config.ts seals it per instance)'),
  resources: Resources.optional().describe("copied from the Provider: limits the agent enforces for this instance's host"),
  issuers: z
    .array(z.string())
    .max(64)
    .optional()
    .describe(
      'narrows the trusted issuers of the agent to these account keys (the controller copies the narrowed list of the Provider); never adds one',
    ),
  health: ProviderHealth.optional().describe("copied from the Provider: how the host checks the provider's health"),
});
export type ProviderInstanceSpec = z.infer<typeof ProviderInstanceSpec>;

export const ProviderInstanceStatus = z.object({
  phase: InstancePhase.optional(),
  conditions: z.array(Condition).optional(),
  restartCount: z.int().min(0).optional(),
  message: z.string().max(32768).optional(),
  reason: z.string().max(1024).optional(),
  startedAt: z.string().optional(),
  lastTermination: z
    .object({
      reason: z.string().max(1024).describe('OOMKilled, or CrashLoopBackOff for any other crash'),
      message: z.string().max(32768).optional(),
      at: z.string(),
    })
    .optional()
    .describe("how the host last ended against the agent's will (kept after it restarts, as a Pod's lastState.terminated)"),
  observedGeneration: z.int().min(0).optional(),
  hostKey: z
    .string()
    .regex(/^U[A-Z2-7]{55}$/)
    .optional()
    .describe("the instance host's NATS user public key, made on its node by the agent (the seed never leaves the node)"),
  hostJwt: z
    .string()
    .max(16384)
    .optional()
    .describe('the user JWT the controller minted for hostKey (not a secret without the seed); short-lived, renewed before exp'),
});
export type ProviderInstanceStatus = z.infer<typeof ProviderInstanceStatus>;

export interface ProviderInstance {
  apiVersion: typeof apiVersion;
  kind: 'ProviderInstance';
  metadata: ObjectMeta;
  spec: ProviderInstanceSpec;
  status?: ProviderInstanceStatus;
}

/**
 * The Secret holding one instance's registry pull credential, in the credentials namespace
 * (gantry-nodes): the controller reduces the Provider's pull secrets to the one entry for the
 * archive's registry and seals it to the node's key (controller/credentials/pull.ts), so the
 * node agent reads no Secret outside that namespace, and only ciphertext in it. The name is a
 * hash of the instance's namespace/name; the labels (below) name the instance and its uid.
 */
export function instancePullCredsSecretName(namespace: string, name: string): string {
  return `gantry-pull-${createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 20)}`;
}

/** The Secret in the credentials namespace holding an instance's secret config values, sealed to its node (controller/credentials/config.ts). */
export function instanceConfigSecretName(namespace: string, name: string): string {
  return `gantry-config-${createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 20)}`;
}

export const instanceCredsLabels = {
  /** an older release's host credential Secret (gantry-instance-<hash>): the controller sweeps them */
  marker: 'gantry.dev/instance-creds',
  namespace: 'gantry.dev/instance-namespace',
  name: 'gantry.dev/instance-name',
  uid: 'gantry.dev/instance-uid',
  /** marks a per-instance pull credential Secret (instancePullCredsSecretName) */
  pullMarker: 'gantry.dev/instance-pull-creds',
  /** marks a per-instance sealed config Secret (instanceConfigSecretName) */
  configMarker: 'gantry.dev/instance-sealed-config',
} as const;
