/**
 * The archive cache is bound to access. The cache is keyed by digest, so without this an
 * instance whose pull secrets cannot read a private repository would run the copy another
 * instance pulled with valid credentials. Before an instance uses the cache, its own
 * credentials (from its pull secrets, or none: anonymous) must be shown to read that digest
 * from the repository its spec names — a manifest HEAD, no download — as kubelet does for
 * images with KubeletEnsureSecretPulledImages. Success is remembered per (repository, digest,
 * credentials) for a bounded time, so restarts and replicas do not HEAD every time; refusals
 * are never remembered. Credentials are remembered only as a SHA-256 of their fields.
 */
import { createHash } from 'node:crypto';
import type { ArchiveStore, RegistryCredentials } from '../registry/index.js';

export interface AccessMemoryOptions {
  /** how long a shown access is trusted without asking the registry again (default 5 min) */
  ttlMs?: number;
  /** entries kept at most; the oldest go first (default 4096) */
  maxEntries?: number;
  now?: () => number;
}

/** A stable identity for a set of credentials (or anonymous), never the secret itself. */
export function credentialIdentity(credentials: RegistryCredentials | undefined): string {
  if (!credentials) return 'anonymous';
  // an absent field (null in JSON) is not an empty one: a username without a password sends
  // no basic auth at all (registry/distribution/auth.ts), one with an empty password does
  const fields = [credentials.username, credentials.password, credentials.identityToken, credentials.registryToken].map((f) => f ?? null);
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

export class RegistryAccess {
  private readonly shown = new Map<string, number>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** HEAD requests made (for tests and metrics) */
  checks = 0;

  constructor(opts: AccessMemoryOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.maxEntries = opts.maxEntries ?? 4096;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Resolves when `store` (opened with `credentials`) can read `digest`; rejects with the
   * store's RegistryError (AUTH_FAILED, NOT_FOUND, …) otherwise.
   */
  async ensure(store: ArchiveStore, digest: string, credentials: RegistryCredentials | undefined): Promise<void> {
    const key = `${store.description}\n${digest}\n${credentialIdentity(credentials)}`;
    const at = this.shown.get(key);
    // with nothing remembered, now - undefined is NaN and NaN < ttl is false, so `true` here changes nothing
    // Stryker disable next-line ConditionalExpression: as above
    if (at !== undefined && this.now() - at < this.ttlMs) return;
    this.shown.delete(key);
    this.checks++;
    await store.checkAccess(digest);
    this.shown.set(key, this.now());
    while (this.shown.size > this.maxEntries) this.shown.delete(this.shown.keys().next().value!);
  }
}
