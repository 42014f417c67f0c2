/**
 * A cache of single objects the controller may only GET (Secrets, and the ConfigMaps a Provider
 * names): no list or watch, because the controller must not hold every Secret of the cluster,
 * so this is not an informer. A reconcile asks for the objects its Provider names; what is
 * cached and fresh is answered at once; what is missing or stale is fetched in the background,
 * and the Providers that asked are enqueued when the answer arrives — only when it changed
 * (by `sig`), so a steady object causes no reconciles. An object someone asks for is read
 * again every `ttlMs` on a timer of its own (not at the next reconcile, which could come up to
 * a resync later): a change is seen within about `ttlMs`. A failed read is asked again sooner
 * (`errorTtlMs`), so an object created after its Provider is seen within seconds.
 *
 * The pull-secret cache (pull-secret-cache.ts) and the config-reference cache
 * (config-refs.ts) are this, each with its own read.
 */
import { keyOf } from '../../runtime/toolkit/keys.js';

export interface GetCacheOptions {
  /** How long a read that succeeded counts as fresh. */
  ttlMs: number;
  /** How long a failed read counts as fresh (default 2 s). */
  errorTtlMs?: number;
}

export interface GetCacheReader<V, E extends Error> {
  /** GETs one object; any failure resolves to (or is turned into) an E by `failure`. */
  read(namespace: string, name: string): Promise<V>;
  failure(err: unknown, key: string): E;
  isFailure(v: V | E): v is E;
  /** Comparable form of a value, to tell a change (it may be kept in memory: never a secret in clear if avoidable). */
  sig(v: V | E): string;
}

interface Entry<V, E> {
  at: number;
  value: V | E;
  sig: string;
}

export class GetCache<V, E extends Error> {
  private readonly entries = new Map<string, Entry<V, E>>();
  private readonly inflight = new Set<string>();
  /** object key → the timer that reads it again */
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** object key → Provider keys that asked for it */
  private readonly askers = new Map<string, Set<string>>();
  private stopped = false;

  constructor(
    private readonly reader: GetCacheReader<V, E>,
    private readonly onChange: (providerKey: string) => void,
    private readonly opts: GetCacheOptions,
  ) {}

  /** Each named object, in order: its value or failure, or undefined while it has never been read (being read now). */
  lookupEach(providerKey: string, namespace: string, names: readonly string[], now = Date.now()): (V | E | undefined)[] {
    return names.map((name) => {
      const key = keyOf({ namespace, name });
      let who = this.askers.get(key);
      if (!who) this.askers.set(key, (who = new Set()));
      who.add(providerKey);
      const e = this.entries.get(key);
      const ttl = e && this.reader.isFailure(e.value) ? (this.opts.errorTtlMs ?? 2_000) : this.opts.ttlMs;
      if (!e || now - e.at >= ttl) this.refresh(namespace, name);
      return e?.value;
    });
  }

  /** Forget who asked for what of a Provider that is gone (and the objects nobody asks for any more). */
  forget(providerKey: string): void {
    for (const [key, who] of this.askers) {
      who.delete(providerKey);
      if (who.size === 0) {
        this.askers.delete(key);
        this.entries.delete(key);
        clearTimeout(this.timers.get(key));
        this.timers.delete(key);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private refresh(namespace: string, name: string): void {
    const key = keyOf({ namespace, name });
    if (this.inflight.has(key) || this.stopped) return;
    this.inflight.add(key);
    // fresh from when the read was asked, not answered: a reconcile requeued `ttlMs` after the
    // one that asked finds it stale and reads again, instead of missing it by the read's latency
    // (which doubled the time to notice a rotated Secret)
    const askedAt = Date.now();
    this.reader
      .read(namespace, name)
      .catch((err: unknown) => this.reader.failure(err, key))
      .then((value) => {
        this.inflight.delete(key);
        if (this.stopped) return;
        const sig = this.reader.sig(value);
        const prev = this.entries.get(key);
        this.entries.set(key, { at: askedAt, value, sig });
        if (prev?.sig !== sig) for (const pk of this.askers.get(key) ?? []) this.onChange(pk);
        if (!this.askers.has(key)) return; // forgotten while it was read
        clearTimeout(this.timers.get(key));
        const again = setTimeout(
          () => this.refresh(namespace, name),
          this.reader.isFailure(value) ? (this.opts.errorTtlMs ?? 2_000) : this.opts.ttlMs,
        );
        again.unref();
        this.timers.set(key, again);
      });
  }
}
