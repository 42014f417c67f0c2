/**
 * The controller's pull secrets, read from a cache so a reconcile never waits on the API
 * server. The controller may only GET Secrets (no list or watch: it must not hold every
 * Secret of the cluster), so this is not an informer: a reconcile asks for the secrets its
 * Provider names; what is cached and fresh is answered at once; what is missing or stale is
 * fetched in the background, and the Providers that asked are enqueued when the answer
 * arrives (only when it changed, so a steady Secret causes no reconciles). A secret that
 * could not be read is asked again sooner than one that was, so a Secret created after its
 * Provider is seen within seconds.
 *
 *   const secrets = new PullSecretCache(client, (providerKey) => queue.add(providerKey));
 *   const r = secrets.lookup('apps/kv', 'apps', ['robot-creds']); // undefined while first read
 */
import type { KubeClient } from '../../runtime/kube.js';
import { keyOf } from '../../runtime/toolkit/keys.js';
import { PullSecretError, readPullSecret, type PullSecret } from '../../registry/pull-secrets.js';

export interface PullSecretCacheOptions {
  /** How long a secret that was read counts as fresh (default 30 s, the resync period). */
  ttlMs?: number;
  /** How long a failed read counts as fresh (default 2 s). */
  errorTtlMs?: number;
}

interface Entry {
  at: number;
  value: PullSecret | PullSecretError;
  /** Comparable form of the value, to tell a change. */
  sig: string;
}

export class PullSecretCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Set<string>();
  /** secret key → Provider keys that asked for it */
  private readonly askers = new Map<string, Set<string>>();
  private stopped = false;

  constructor(
    private readonly client: Pick<KubeClient, 'get'>,
    private readonly onChange: (providerKey: string) => void,
    private readonly opts: PullSecretCacheOptions = {},
  ) {}

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
    for (const name of names) {
      const key = keyOf({ namespace, name });
      let who = this.askers.get(key);
      if (!who) this.askers.set(key, (who = new Set()));
      who.add(providerKey);
      const e = this.entries.get(key);
      const ttl = e?.value instanceof PullSecretError ? (this.opts.errorTtlMs ?? 2_000) : (this.opts.ttlMs ?? 30_000);
      if (!e || now - e.at >= ttl) this.refresh(namespace, name);
      if (!e) pending = true;
      else if (e.value instanceof PullSecretError) error ??= e.value;
      else secrets.push(e.value);
    }
    if (pending) return undefined;
    return error ? { error } : { secrets };
  }

  /** Forget who asked for what of a Provider that is gone. */
  forget(providerKey: string): void {
    for (const [key, who] of this.askers) {
      who.delete(providerKey);
      if (who.size === 0) {
        this.askers.delete(key);
        this.entries.delete(key);
      }
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private refresh(namespace: string, name: string): void {
    const key = keyOf({ namespace, name });
    if (this.inflight.has(key) || this.stopped) return;
    this.inflight.add(key);
    readPullSecret(this.client as KubeClient, namespace, name)
      .catch((err: unknown) =>
        err instanceof PullSecretError
          ? err
          : new PullSecretError('PULL_SECRET_UNREADABLE', `reading pull secret ${key}: ${(err as Error).message}`),
      )
      .then((value) => {
        this.inflight.delete(key);
        if (this.stopped) return;
        const sig = value instanceof PullSecretError ? `!${value.code}:${value.message}` : value.dockerConfig;
        const prev = this.entries.get(key);
        this.entries.set(key, { at: Date.now(), value, sig });
        if (prev?.sig !== sig) for (const pk of this.askers.get(key) ?? []) this.onChange(pk);
      });
  }
}
