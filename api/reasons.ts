/**
 * The one vocabulary of reasons: every CamelCase word Gantry writes into a condition, an
 * instance's `status.reason` or an Event, and — for errors raised by par/, registry/ and the
 * provider host — which word each error code becomes and whether trying again later could help.
 *
 * A reason string a user sees comes from here: the controller (`controller/resolve.ts`) and
 * the agent (`agent/failure.ts`) both look codes up in `reasonsByCode`, so the two can no
 * longer name the same failure differently or disagree on whether it heals. The table is keyed
 * by the union of the error-code types, so a code that does not exist does not compile.
 * `docs/crd-reference.md` and `docs/agent.md` list the same words; `test/api/reasons.test.ts`
 * fails when they drift.
 *
 * The error-code types are imported as types only: no code of par/, registry/ or agent/ runs
 * from here, and nothing here depends on how they work.
 */
import type { ParErrorCode } from '../par/errors.js';
import type { RegistryErrorCode } from '../registry/errors.js';
import type { HostErrorCode } from '../agent/host/errors.js';
import type { BinaryStoreError } from '../agent/binaries.js';
import type { PullSecretErrorCode } from '../registry/pull-secrets.js';

/** Why a Provider's archive did not resolve: the reasons of `Resolved=False`. */
export const RESOLVE_FAILURE_REASONS = [
  'RevisionNotFound',
  'ArchiveNotFound',
  'UntrustedIssuer',
  'SignatureInvalid',
  'Unsigned',
  'CapabilityMismatch',
  'InvalidArchive',
  'ClaimsExpired',
  'ClaimsNotYetValid',
  'RegistryUnavailable',
  'RegistryAuthFailed',
  'PlainHttpRefused',
  'InvalidRef',
  'PullSecretMissing',
  'PullSecretInvalid',
  'InvalidSpec',
  'RevisionMoved',
  'ArchiveTooLarge',
  'DigestPinMismatch',
  'LogInconsistent',
  'LogMissing',
  'LogKeyNotForOrigin',
] as const;
export type ResolveFailureReason = (typeof RESOLVE_FAILURE_REASONS)[number];

/** Why spec.configFrom did not resolve: the reasons of `ConfigResolved=False` (controller/providers/config-refs.ts). */
export const CONFIG_FAILURE_REASONS = [
  'ConfigMapNotFound',
  'SecretNotFound',
  'ConfigKeyNotFound',
  'ConfigRefForbidden',
  'ConfigValueInvalid',
  'ConfigRefUnreadable',
] as const;
export type ConfigFailureReason = (typeof CONFIG_FAILURE_REASONS)[number];

/** Every reason of the Provider's conditions, by condition type. */
export const PROVIDER_CONDITION_REASONS = {
  Resolved: ['Resolved', ...RESOLVE_FAILURE_REASONS],
  ConfigResolved: ['ConfigResolved', ...CONFIG_FAILURE_REASONS],
  Scheduled: ['AllReplicasPlaced', 'Unschedulable', 'NoMatchingTarget', 'InstanceCreateRefused'],
  Progressing: ['RolloutInProgress', 'RolloutComplete', 'ProgressDeadlineExceeded', 'RolloutPaused'],
  Ready: ['AllReplicasReady', 'ReplicasNotReady'],
  // the autoscaler's last decision (controller/autoscale/): False when it cannot do its work
  Autoscaling: [
    'ScaledUp',
    'ScaledDown',
    'ScaledToZero',
    'Activated',
    'Steady',
    'AtMaxReplicas',
    'NoFigures',
    'InvalidSpec',
    'ScaleRefused',
  ],
} as const;

/** Reasons of a CapabilityGrant's Ready condition. */
export const GRANT_CONDITION_REASONS = {
  Ready: ['Issued', 'Expired', 'Revoked', 'MembraneNotConfigured', 'InvalidSpec', 'KeyInUse'],
} as const;
export type GrantReason = (typeof GRANT_CONDITION_REASONS)['Ready'][number];

/** Why the controller removes an instance (the `InstancesReplaced`/`Removed` Events, the removals metric). */
export const LOST_REASONS = ['NodeDeleted', 'NodeNotReady', 'NoExecuteTaint', 'AgentLost'] as const;
export type LostReason = (typeof LOST_REASONS)[number];
// InstanceLimit: the node's agent refused the instance (its --max-instances is reached);
// NodeCordoned: its node is cordoned (`kubectl drain`, which evicts no Gantry instance: they are not pods)
export const REPLACEMENT_REASONS = [...LOST_REASONS, 'InstanceFailed', 'NodeIneligible', 'InstanceLimit', 'NodeCordoned'] as const;
export type RemovalReason = (typeof REPLACEMENT_REASONS)[number] | 'ScaledDown' | 'Replaced' | 'ProviderDeleted';

/** Why an instance could not be brought up: its `status.reason` when it fails (agent). */
export const INSTANCE_FAILURE_REASONS = [
  'HashMismatch',
  'UntrustedIssuer',
  'SignatureInvalid',
  'Unsigned',
  'ClaimsExpired',
  'ClaimsNotYetValid',
  'TargetNotInArchive',
  'TargetNotSupported',
  'ForeignTarget',
  'InvalidArchive',
  'DigestMismatch',
  'FetchFailed',
  'RegistryUnauthorized',
  'PullSecretInvalid',
  'LoadFailed',
  'AbiMismatch',
  'CapabilityMismatch',
  'HostFailed',
  'NatsAuthFailed',
  'NatsTlsFailed',
  'CredentialsPending',
  // secret config values (agent/secret-config.ts): each refusal its own word
  'ConfigPending',
  'ConfigSealedForAnotherNode',
  'ConfigUnopenable',
  'ConfigIncomplete',
  'ConfigConflict',
  'HostKeyRefused',
  'ConfigRejected',
  'InvalidSpec',
  'ArchiveTooLarge',
  'OOMKilled',
  'MemoryCgroupFailed',
] as const;
export type InstanceFailureReason = (typeof INSTANCE_FAILURE_REASONS)[number];

/** What an instance's `status.reason` says while it is not failed (agent). */
export const INSTANCE_PROGRESS_REASONS = [
  'Pulling',
  'Verifying',
  'Loading',
  'HostReady',
  'CrashLoopBackOff',
  'Deleting',
  'AgentStopped',
  // Running but Ready=False: the provider's health check says it cannot serve (agent/host/health.ts)
  'ProviderUnhealthy',
  // lastTermination: failureThreshold health checks failed in a row, so the host was restarted
  'LivenessFailed',
  // Pending: the agent runs --max-instances already; it starts this one when one of them stops
  'InstanceLimit',
] as const;
export type InstanceReason = (typeof INSTANCE_PROGRESS_REASONS)[number] | InstanceFailureReason;

/** Every stable error code a resolve, a fetch, a verification or a provider host can raise. */
export type ErrorCode = ParErrorCode | RegistryErrorCode | PullSecretErrorCode | HostErrorCode | BinaryStoreError['code'];

export interface CodeReasons {
  /** The `Resolved=False` reason when the controller meets it (absent: the controller never does). */
  provider?: ResolveFailureReason;
  /** The instance's reason when the agent meets it (absent: the agent's stage decides). */
  instance?: InstanceFailureReason;
  /** True when trying again later, with no object changed, could succeed (network, outage, a Secret rotated). */
  transient: boolean;
}

const registryDown: CodeReasons = { provider: 'RegistryUnavailable', instance: 'FetchFailed', transient: true };
const badSignature: CodeReasons = { provider: 'SignatureInvalid', instance: 'SignatureInvalid', transient: false };
const badArchive: CodeReasons = { provider: 'InvalidArchive', instance: 'InvalidArchive', transient: false };
const hostDown: CodeReasons = { instance: 'HostFailed', transient: true };

/**
 * Where the Provider's and the instance's words differ, they see different things: the
 * controller checks a signed summary before anything is pulled (an altered archive breaks its
 * signature), the agent hashes the one binary it will load (an altered binary is a hash
 * mismatch); the controller resolves a registry, the agent fetches a blob.
 */
export const reasonsByCode: { readonly [C in ErrorCode]?: CodeReasons } = {
  // registry/
  REVISION_NOT_FOUND: { provider: 'RevisionNotFound', transient: false },
  NOT_FOUND: { provider: 'ArchiveNotFound', instance: 'FetchFailed', transient: true },
  UNREACHABLE: registryDown,
  TIMEOUT: registryDown,
  // a registry that trickles: bounded per request, tried again as a registry that is down
  REGISTRY_DEADLINE: registryDown,
  REGISTRY_TOO_SLOW: registryDown,
  HTTP_ERROR: registryDown,
  LOCKED: registryDown,
  CACHE_ERROR: registryDown,
  AUTH_FAILED: { provider: 'RegistryAuthFailed', instance: 'RegistryUnauthorized', transient: true },
  PLAIN_HTTP_REFUSED: { provider: 'PlainHttpRefused', instance: 'FetchFailed', transient: false },
  BAD_REF: { provider: 'InvalidRef', instance: 'InvalidSpec', transient: false },
  // registry/namespaces.ts: a short name no mapping covers (fix the mapping or the ref)
  UNMAPPED_NAME: { provider: 'InvalidRef', instance: 'InvalidSpec', transient: false },
  BAD_NAMESPACE_MAP: { provider: 'InvalidRef', instance: 'InvalidSpec', transient: false },
  BAD_MANIFEST: badArchive,
  NOT_AN_ARCHIVE: badArchive,
  SUMMARY_MISMATCH: { provider: 'SignatureInvalid', transient: false },
  DIGEST_MISMATCH: { provider: 'SignatureInvalid', instance: 'DigestMismatch', transient: true },
  // a declared size over --max-archive-bytes: refused before a byte is read
  ARCHIVE_TOO_LARGE: { provider: 'ArchiveTooLarge', instance: 'ArchiveTooLarge', transient: false },
  // a registry sent more than it declared: cut off, as a lying registry
  BLOB_OVERRUN: { provider: 'InvalidArchive', instance: 'DigestMismatch', transient: true },
  // registry/pull-secrets.ts: a Secret can be created or fixed without touching the Provider
  PULL_SECRET_MISSING: { provider: 'PullSecretMissing', instance: 'PullSecretInvalid', transient: true },
  PULL_SECRET_INVALID: { provider: 'PullSecretInvalid', instance: 'PullSecretInvalid', transient: true },
  PULL_SECRET_UNREADABLE: { provider: 'PullSecretMissing', instance: 'FetchFailed', transient: true },
  // par/
  PAR_UNSIGNED: { provider: 'Unsigned', instance: 'Unsigned', transient: false },
  PAR_SIGNATURE_INVALID: badSignature,
  PAR_BAD_ALGORITHM: badSignature,
  PAR_BAD_JWT: badSignature,
  PAR_HASH_MISMATCH: { provider: 'SignatureInvalid', instance: 'HashMismatch', transient: false },
  PAR_MISSING_BINARY: { provider: 'InvalidArchive', instance: 'HashMismatch', transient: false },
  PAR_UNHASHED_TARGET: { provider: 'InvalidArchive', instance: 'HashMismatch', transient: false },
  PAR_UNTRUSTED_ISSUER: { provider: 'UntrustedIssuer', instance: 'UntrustedIssuer', transient: false },
  PAR_BAD_ISSUER: { provider: 'UntrustedIssuer', instance: 'SignatureInvalid', transient: false },
  PAR_EXPIRED: { provider: 'ClaimsExpired', instance: 'ClaimsExpired', transient: false },
  PAR_NOT_YET_VALID: { provider: 'ClaimsNotYetValid', instance: 'ClaimsNotYetValid', transient: false },
  PAR_TARGET_NOT_FOUND: { provider: 'InvalidArchive', instance: 'TargetNotInArchive', transient: false },
  // agent/binaries.ts: the extracted binary does not hash to its signed value
  BINARY_HASH_MISMATCH: { instance: 'HashMismatch', transient: false },
  // agent/host/verified-library.ts: the library file no longer hashes to the verified value (swapped)
  LIBRARY_HASH_MISMATCH: { instance: 'HashMismatch', transient: false },
  // agent/host/memfd-seal.ts: the library descriptor handed to the host is not sealed memory
  LIBRARY_NOT_SEALED: { instance: 'LoadFailed', transient: false },
  // agent/host
  BAD_SPEC: { instance: 'InvalidSpec', transient: false },
  LOAD_FAILED: { instance: 'LoadFailed', transient: false },
  NOT_A_PROVIDER: { instance: 'LoadFailed', transient: false },
  DISPATCH_REJECTED: { instance: 'LoadFailed', transient: false },
  ABI_MISMATCH: { instance: 'AbiMismatch', transient: false },
  ABI_FLAGS_UNKNOWN: { instance: 'AbiMismatch', transient: false },
  ABI_EXTENSIONS_INVALID: { instance: 'AbiMismatch', transient: false },
  CAPID_MISMATCH: { instance: 'CapabilityMismatch', transient: false },
  CONFIG_REJECTED: { instance: 'ConfigRejected', transient: false },
  NATS_UNAVAILABLE: hostDown,
  // the NATS credentials or TLS files are wrong: an operator can fix them (Secret rotation) without touching the instance
  NATS_AUTH_FAILED: { instance: 'NatsAuthFailed', transient: true },
  NATS_TLS_FAILED: { instance: 'NatsTlsFailed', transient: true },
  CRASHED: hostDown,
  HUNG: hostDown,
  LIVENESS_FAILED: hostDown,
  START_TIMEOUT: hostDown,
  // over resources.memory: killed and restarted with backoff (it may have been a spike)
  OOM_KILLED: { instance: 'OOMKilled', transient: true },
  // --host-cgroup: the host's cgroup could not be made or limited; retried (an operator can fix the directory)
  MEMORY_CGROUP_FAILED: { instance: 'MemoryCgroupFailed', transient: true },
};

/**
 * The reasons for an error's `code`, or undefined for a code without its own entry. Every
 * other archive-format (`PAR_…`) code is an invalid archive to both sides.
 */
export function reasonsForCode(code: unknown): CodeReasons | undefined {
  if (typeof code !== 'string') return undefined;
  const hit = Object.hasOwn(reasonsByCode, code) ? reasonsByCode[code as ErrorCode] : undefined;
  if (hit) return hit;
  return code.startsWith('PAR_') ? badArchive : undefined;
}
