/**
 * Resolving a Provider's archive: `archive.ref` + `archive.revision` (absent = highest
 * published) → manifest digest and the signed claims summary. The controller codes against
 * `ArchiveResolver`; the real one (`registryResolver`) uses registry/: it resolves the
 * revision from the small config blob, then — once per digest, cached — pulls the archive
 * and verifies it (signature, issuer on the trust list, every hash), so a bad archive is
 * refused here, before any instance exists, with a reason the user can read.
 *
 * Every outcome becomes the Provider's `Resolved` condition: `ResolveFailure.reason` is the
 * condition reason (RevisionNotFound, UntrustedIssuer, SignatureInvalid, CapabilityMismatch,
 * RegistryUnavailable, …) and `transient` says whether to retry with backoff soon.
 */
import type { ResolvedArchive } from '../api/provider.js';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  token?: string;
  [k: string]: unknown;
}

export interface ResolveRequest {
  ref: string;
  revision?: number;
  /** Raw `.dockerconfigjson` documents from the Provider's pull secrets. */
  dockerConfigs?: string[];
  /** Issuers allowed in force for this Provider (empty = any valid signature). */
  trustedIssuers: string[];
}

export interface ArchiveResolver {
  resolve(req: ResolveRequest): Promise<ResolvedArchive>;
}

export class ResolveFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'ResolveFailure';
  }
}

/** Maps registry/ and par/ error codes to condition reasons. */
export function failureFromError(err: unknown, ref: string): ResolveFailure {
  if (err instanceof ResolveFailure) return err;
  const code = (err as { code?: string })?.code ?? '';
  const msg = (err as Error)?.message ?? String(err);
  const table: Record<string, [string, boolean]> = {
    REVISION_NOT_FOUND: ['RevisionNotFound', false],
    NOT_FOUND: ['ArchiveNotFound', false],
    UNREACHABLE: ['RegistryUnavailable', true],
    TIMEOUT: ['RegistryUnavailable', true],
    HTTP_ERROR: ['RegistryUnavailable', true],
    LOCKED: ['RegistryUnavailable', true],
    CACHE_ERROR: ['RegistryUnavailable', true],
    AUTH_FAILED: ['RegistryAuthFailed', false],
    ARCHIVE_TOO_LARGE: ['ArchiveTooLarge', false],
    BLOB_OVERRUN: ['InvalidArchive', false],
    PLAIN_HTTP_REFUSED: ['PlainHttpRefused', false],
    BAD_REF: ['InvalidRef', false],
    BAD_MANIFEST: ['InvalidArchive', false],
    NOT_AN_ARCHIVE: ['InvalidArchive', false],
    SUMMARY_MISMATCH: ['SignatureInvalid', false],
    DIGEST_MISMATCH: ['SignatureInvalid', false],
    PAR_UNSIGNED: ['Unsigned', false],
    PAR_SIGNATURE_INVALID: ['SignatureInvalid', false],
    PAR_BAD_ALGORITHM: ['SignatureInvalid', false],
    PAR_BAD_JWT: ['SignatureInvalid', false],
    PAR_HASH_MISMATCH: ['SignatureInvalid', false],
    PAR_UNTRUSTED_ISSUER: ['UntrustedIssuer', false],
    PAR_BAD_ISSUER: ['UntrustedIssuer', false],
    PAR_EXPIRED: ['ClaimsExpired', false],
    PAR_NOT_YET_VALID: ['ClaimsNotYetValid', false],
  };
  // registry/ errors usually name the ref already; say it once
  const text = msg.startsWith(ref) ? msg : `${ref}: ${msg}`;
  const hit = table[code];
  if (hit) return new ResolveFailure(hit[0], text, hit[1]);
  if (code.startsWith('PAR_')) return new ResolveFailure('InvalidArchive', text, false);
  return new ResolveFailure('RegistryUnavailable', text, true);
}

/** Checks the controller makes on top of the store's verification. */
export function checkResolved(r: ResolvedArchive, opts: { trustedIssuers: string[]; capabilityId?: string; ref: string }): void {
  if (opts.trustedIssuers.length > 0 && !opts.trustedIssuers.includes(r.issuer ?? '')) {
    throw new ResolveFailure('UntrustedIssuer', `${opts.ref} revision ${r.revision} is signed by ${r.issuer}, which is not a trusted issuer; add it to spec.trust.issuers or the controller's --trust-issuer`, false);
  }
  if (opts.capabilityId && r.capid !== opts.capabilityId) {
    throw new ResolveFailure('CapabilityMismatch', `${opts.ref} revision ${r.revision} provides ${r.capid ?? 'no capability id'}, but spec.capabilityId is ${opts.capabilityId}`, false);
  }
  if (r.targets.length === 0) throw new ResolveFailure('InvalidArchive', `${opts.ref} revision ${r.revision} has no binaries`, false);
}

interface CacheEntry {
  at: number;
  value: ResolvedArchive;
}

/**
 * Caches resolutions: (ref, revision) → digest for `ttlMs` (an explicit revision never moves,
 * so it is kept longer), and verification per digest+trust list for good.
 */
export class CachingResolver implements ArchiveResolver {
  private readonly byRef = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<ResolvedArchive>>();

  constructor(
    private readonly inner: ArchiveResolver,
    private readonly opts: { latestTtlMs?: number; pinnedTtlMs?: number } = {},
  ) {}

  resolve(req: ResolveRequest): Promise<ResolvedArchive> {
    const key = `${req.ref}@${req.revision ?? 'latest'}|${[...req.trustedIssuers].sort().join(',')}|${(req.dockerConfigs ?? []).join('')}`;
    const ttl = req.revision === undefined ? (this.opts.latestTtlMs ?? 15_000) : (this.opts.pinnedTtlMs ?? 300_000);
    const hit = this.byRef.get(key);
    if (hit && Date.now() - hit.at < ttl) return Promise.resolve(hit.value);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.inner
      .resolve(req)
      .then((value) => {
        this.byRef.set(key, { at: Date.now(), value });
        return value;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  invalidate(): void {
    this.byRef.clear();
  }
}
