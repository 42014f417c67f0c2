/**
 * The controller's pull secrets, read from a GET-only cache (get-cache.ts) so a reconcile
 * never waits on the API server; the Providers that named a secret are enqueued when it
 * appears or changes.
 *
 *   const secrets = new PullSecretCache(client, (providerKey) => queue.add(providerKey));
 *   const r = secrets.lookup('apps/kv', 'apps', ['robot-creds']); // undefined while first read
 */
import type { KubeClient } from '../../runtime/kube.js';
import { PullSecretError, readPullSecret, type PullSecret } from '../../registry/pull-secrets.js';
import { GetCache } from './get-cache.js';

export interface PullSecretCacheOptions {
  /** How long a secret that was read counts as fresh (default 30 s, the resync period). */
  ttlMs?: number;
  /** How long a failed read counts as fresh (default 2 s). */
  errorTtlMs?: number;
}

export class PullSecretCache {
  private readonly cache: GetCache<PullSecret, PullSecretError>;

  constructor(client: Pick<KubeClient, 'get'>, onChange: (providerKey: string) => void, opts: PullSecretCacheOptions = {}) {
    this.cache = new GetCache(
      {
        read: (namespace, name) => readPullSecret(client as KubeClient, namespace, name),
        failure: (err, key) =>
          err instanceof PullSecretError
            ? err
            : new PullSecretError('PULL_SECRET_UNREADABLE', `reading pull secret ${key}: ${(err as Error).message}`),
        isFailure: (v): v is PullSecretError => v instanceof PullSecretError,
        sig: (v) => (v instanceof PullSecretError ? `!${v.code}:${v.message}` : v.dockerConfig),
      },
      onChange,
      { ttlMs: opts.ttlMs ?? 30_000, errorTtlMs: opts.errorTtlMs },
    );
  }

  /**
   * The named secrets for a Provider, in order: the secrets, or the first one's error, or
   * undefined while one of them has never been read (it is being read; the Provider is
   * enqueued when it arrives).
   */
  lookup(
    providerKey: string,
    namespace: string,
    names: readonly string[],
    now = Date.now(),
  ): { secrets: PullSecret[] } | { error: PullSecretError } | undefined {
    const secrets: PullSecret[] = [];
    let error: PullSecretError | undefined;
    let pending = false;
    for (const v of this.cache.lookupEach(providerKey, namespace, names, now)) {
      if (v === undefined) pending = true;
      else if (v instanceof PullSecretError) error ??= v;
      else secrets.push(v);
    }
    if (pending) return undefined;
    return error ? { error } : { secrets };
  }

  /** Forget who asked for what of a Provider that is gone. */
  forget(providerKey: string): void {
    this.cache.forget(providerKey);
  }

  stop(): void {
    this.cache.stop();
  }
}
