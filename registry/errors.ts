/**
 * Typed errors for everything registry/ does. `code` is stable (callers and the CLI switch on
 * it); the message says what failed, on which reference, and what to do next. Archive
 * verification failures are not wrapped: they surface as the PAR library's own `ParError`.
 */
export type RegistryErrorCode =
  | 'BAD_REF'
  | 'BAD_MANIFEST'
  | 'REVISION_NOT_FOUND'
  | 'REVISION_EXISTS'
  | 'REVISION_NOT_INCREASING'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'AUTH_FAILED'
  | 'DIGEST_MISMATCH'
  | 'SUMMARY_MISMATCH'
  | 'NOT_FOUND'
  | 'NOT_AN_ARCHIVE'
  | 'HTTP_ERROR'
  | 'PLAIN_HTTP_REFUSED'
  | 'UPLOAD_FAILED'
  | 'LOCKED'
  | 'CACHE_ERROR'
  /** a manifest declares an archive (or a file is) larger than --max-archive-bytes: refused before a byte is read */
  | 'ARCHIVE_TOO_LARGE'
  /** the registry sent more bytes than the manifest (or its own headers) declared: cut off there */
  | 'BLOB_OVERRUN'
  /** a short name (acme/payments) that no namespace mapping matches (registry/namespaces.ts) */
  | 'UNMAPPED_NAME'
  /** a namespace mapping file that cannot be read or does not validate */
  | 'BAD_NAMESPACE_MAP'
  /** one request (all its attempts, headers and body) ran past its deadline (distribution/transfer-guard.ts) */
  | 'REGISTRY_DEADLINE'
  /** a body moved slower than the minimum average rate over a window: a trickle (distribution/transfer-guard.ts) */
  | 'REGISTRY_TOO_SLOW'
  /** an archive container the chosen media types' tools cannot read (a zip under wasmCloud's types) */
  | 'FORMAT_NOT_READABLE';

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  /** HTTP status when the registry answered, for HTTP_ERROR / AUTH_FAILED / NOT_FOUND */
  readonly status?: number;
  /** revisions that do exist, for REVISION_NOT_FOUND */
  readonly available?: number[];

  constructor(code: RegistryErrorCode, message: string, extra: { status?: number; available?: number[]; cause?: unknown } = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'RegistryError';
    this.code = code;
    if (extra.status !== undefined) this.status = extra.status;
    if (extra.available !== undefined) this.available = extra.available;
  }
}
