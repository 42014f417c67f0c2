/**
 * Why an instance could not be brought up, in the words its status uses. Every error the
 * fetch → verify → extract → load pipeline can raise is mapped here, once, to a stable
 * `reason` (the CamelCase word a person greps for in `kubectl get providerinstance -o yaml`)
 * and to whether retrying could help: a bad signature never heals, an unreachable registry
 * may.
 */

/** Every reason, in one place (metrics report each one from the start). */
export const FAILURE_REASONS = [
  'HashMismatch',
  'UntrustedIssuer',
  'SignatureInvalid',
  'ClaimsExpired',
  'TargetNotInArchive',
  'TargetNotSupported',
  'ForeignTarget',
  'ArchiveInvalid',
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
  'ConfigRejected',
  'InvalidSpec',
  'ArchiveTooLarge',
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

export class InstanceFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
    /** True when trying again later could succeed (network, registry outage). */
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'InstanceFailure';
  }
}

/** Error codes raised by par/ (ParError) and registry/ (RegistryError) and agent/host (HostError). */
const byCode: Record<string, [FailureReason, boolean]> = {
  PAR_HASH_MISMATCH: ['HashMismatch', false],
  PAR_UNTRUSTED_ISSUER: ['UntrustedIssuer', false],
  PAR_SIGNATURE_INVALID: ['SignatureInvalid', false],
  PAR_BAD_SIGNATURE: ['SignatureInvalid', false],
  PAR_UNSIGNED: ['SignatureInvalid', false],
  PAR_EXPIRED: ['ClaimsExpired', false],
  PAR_NOT_YET_VALID: ['ClaimsExpired', false],
  PAR_TARGET_NOT_FOUND: ['TargetNotInArchive', false],
  BINARY_HASH_MISMATCH: ['HashMismatch', false],
  LIBRARY_HASH_MISMATCH: ['HashMismatch', false],
  DIGEST_MISMATCH: ['DigestMismatch', true],
  AUTH_FAILED: ['RegistryUnauthorized', true],
  NOT_AN_ARCHIVE: ['ArchiveInvalid', false],
  ARCHIVE_TOO_LARGE: ['ArchiveTooLarge', false],
  BLOB_OVERRUN: ['DigestMismatch', true],
  BAD_REF: ['InvalidSpec', false],
  PLAIN_HTTP_REFUSED: ['FetchFailed', false],
  PAR_BAD_ISSUER: ['SignatureInvalid', false],
  PAR_BAD_ALGORITHM: ['SignatureInvalid', false],
  PAR_BAD_JWT: ['SignatureInvalid', false],
  PAR_MISSING_BINARY: ['HashMismatch', false],
  PAR_UNHASHED_TARGET: ['HashMismatch', false],
  // agent/host HostError codes
  BAD_SPEC: ['InvalidSpec', false],
  LOAD_FAILED: ['LoadFailed', false],
  NOT_A_PROVIDER: ['LoadFailed', false],
  ABI_MISMATCH: ['AbiMismatch', false],
  CAPID_MISMATCH: ['CapabilityMismatch', false],
  CONFIG_REJECTED: ['ConfigRejected', false],
  DISPATCH_REJECTED: ['LoadFailed', false],
  NATS_UNAVAILABLE: ['HostFailed', true],
  // the agent's NATS credentials or TLS files are wrong: retried, since an operator can fix them (Secret rotation) without touching the instance
  NATS_AUTH_FAILED: ['NatsAuthFailed', true],
  NATS_TLS_FAILED: ['NatsTlsFailed', true],
  CRASHED: ['HostFailed', true],
  HUNG: ['HostFailed', true],
  START_TIMEOUT: ['HostFailed', true],
  // the registry's errors worth a reason of their own
  UNREACHABLE: ['FetchFailed', true],
  TIMEOUT: ['FetchFailed', true],
  NOT_FOUND: ['FetchFailed', true],
};

/** Classify any error thrown while preparing or starting an instance. */
export function classify(err: unknown, stage: 'fetch' | 'verify' | 'start'): InstanceFailure {
  if (err instanceof InstanceFailure) return err;
  const e = err as { code?: unknown; message?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = e?.message ?? String(err);
  if (code && byCode[code]) {
    const [reason, retryable] = byCode[code];
    return new InstanceFailure(reason, message, retryable);
  }
  if (code?.startsWith('PAR_')) return new InstanceFailure('ArchiveInvalid', message, false);
  if (code?.includes('CAPID')) return new InstanceFailure('CapabilityMismatch', message, false);
  if (code?.includes('ABI')) return new InstanceFailure('AbiMismatch', message, false);
  if (stage === 'fetch') return new InstanceFailure('FetchFailed', message, true);
  if (stage === 'verify') return new InstanceFailure('ArchiveInvalid', message, false);
  return new InstanceFailure('LoadFailed', message, false);
}
