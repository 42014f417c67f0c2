/**
 * Resolving a Provider's archive: `archive.ref` + `archive.revision` (absent = highest
 * published) → manifest digest and the signed claims summary. The controller codes against
 * `ArchiveResolver`; the real one (`registryResolver`) uses registry/: it resolves the
 * revision from the small config blob, then — once per digest, cached — pulls the archive
 * and verifies it (signature, issuer on the trust list, every hash), so a bad archive is
 * refused here, before any instance exists, with a reason the user can read.
 *
 * Every outcome becomes the Provider's `Resolved` condition: `ResolveFailure.reason` is the
 * condition reason (one of api/reasons.ts's RESOLVE_FAILURE_REASONS) and `transient` says
 * whether to retry with backoff soon.
 */
import type { ResolvedArchive } from '../../../api/provider.js';
import { TRUST_POLICY_HINT } from '../../../api/trust.js';
import { capabilityIdPattern } from '../../../api/common.js';
import type { PullSecret } from '../../../registry/pull-secrets.js';
import { reasonsForCode, type ResolveFailureReason } from '../../../api/reasons.js';

export interface ResolveRequest {
  ref: string;
  revision?: number;
  /** The Provider's pull secrets, read from the controller's cache. */
  pullSecrets?: PullSecret[];
  /** Issuers in force for this Provider (api/trust.ts); empty = nothing is trusted. */
  trustedIssuers: string[];
}

export interface ArchiveResolver {
  resolve(req: ResolveRequest): Promise<ResolvedArchive>;
}

export class ResolveFailure extends Error {
  constructor(
    readonly reason: ResolveFailureReason,
    message: string,
    readonly transient: boolean,
  ) {
    super(message);
    this.name = 'ResolveFailure';
  }
}

/** Maps registry/ and par/ errors to condition reasons through the one table (api/reasons.ts). */
export function failureFromError(err: unknown, ref: string): ResolveFailure {
  if (err instanceof ResolveFailure) return err;
  const msg = (err as Error)?.message ?? String(err);
  // registry/ errors usually name the ref already; say it once
  const text = msg.startsWith(ref) ? msg : `${ref}: ${msg}`;
  const hit = reasonsForCode((err as { code?: unknown })?.code);
  if (hit?.provider) return new ResolveFailure(hit.provider, text, hit.transient);
  // anything else (a socket error, an unexpected status) is the registry being unavailable
  return new ResolveFailure('RegistryUnavailable', text, true);
}

/** Checks the controller makes on top of the store's verification. */
export function checkResolved(r: ResolvedArchive, opts: { trustedIssuers: string[]; capabilityId?: string; ref: string }): void {
  if (!opts.trustedIssuers.includes(r.issuer ?? '')) {
    throw new ResolveFailure(
      'UntrustedIssuer',
      `${opts.ref} revision ${r.revision} is signed by ${r.issuer}, which is not a trusted issuer; trust comes from ${TRUST_POLICY_HINT} (spec.trust.issuers can only narrow it)`,
      false,
    );
  }
  // the capid becomes part of every instance (and its NATS subjects): refuse here what the
  // API would refuse on each instance create, with a reason the Provider's author can read
  if (r.capid !== undefined && !new RegExp(capabilityIdPattern).test(r.capid)) {
    throw new ResolveFailure(
      'InvalidArchive',
      `${opts.ref} revision ${r.revision} declares capability id ${JSON.stringify(r.capid)}, which is not a valid capability id (pattern ${capabilityIdPattern}, e.g. wascap:keyvalue); republish it with a valid capid`,
      false,
    );
  }
  if (opts.capabilityId && r.capid !== opts.capabilityId) {
    throw new ResolveFailure(
      'CapabilityMismatch',
      `${opts.ref} revision ${r.revision} provides ${r.capid ?? 'no capability id'}, but spec.capabilityId is ${opts.capabilityId}`,
      false,
    );
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
    const key = `${req.ref}@${req.revision ?? 'latest'}|${[...req.trustedIssuers].sort().join(',')}|${(req.pullSecrets ?? []).map((s) => s.dockerConfig).join('')}`;
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
