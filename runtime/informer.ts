/**
 * An informer: a local cache of one kind of object kept current by list + watch, calling
 * handlers on add/update/delete. Written here rather than taken from client-node because its
 * informer stops for good on any error that is not a 410 (still so in 2.x) and, in 1.x, stalled
 * silently on a half-open watch; 2.x ends a watch after 30 s without data, but that timer is
 * in its own watch, and ours runs over KubeClient (kube.ts), so the watchdog below stays.
 * This one never gives up while started:
 *
 * - every watch asks the server to close after `watchTimeoutSeconds`; a watch still open
 *   `stallGraceMs` past that is presumed stalled, aborted and restarted (the watchdog);
 * - any error is retried with capped exponential backoff; 410 Gone (or repeated failures)
 *   falls back to a fresh list;
 * - a full relist every `relistIntervalMs` repairs anything a watch might have missed, by
 *   diffing the list against the cache and firing the matching handlers.
 *
 * Handlers run synchronously and should only enqueue work (level-triggered controllers).
 *
 * Usage:
 *   const nodes = new Informer<Node>({ client, path: '/api/v1/nodes' });
 *   nodes.addHandler({ add: (n) => queue.add(n.metadata.name), update: …, delete: … });
 *   await nodes.start();   // resolves after the first list
 *   nodes.list(); nodes.get('node-1');
 *   await nodes.stop();
 */
import { KubeApiError, type KubeClient, type WatchEvent } from './kube.js';
import { logger } from './log.js';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; [k: string]: any };
  [k: string]: any;
}

export interface InformerHandlers<T> {
  add?(obj: T): void;
  update?(obj: T, old: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions {
  client: KubeClient;
  /** Collection path, e.g. `/api/v1/nodes` or `/apis/gantry.dev/v1alpha1/namespaces/ns/providers`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The server closes each watch after this (default 60 s); we then continue from the last resourceVersion. */
  watchTimeoutSeconds?: number;
  /** A watch open this long past its timeout is considered stalled and restarted (default 15 s). */
  stallGraceMs?: number;
  /** Full relist period (default 5 min; 0 disables). */
  relistIntervalMs?: number;
  /** List page size (default 500). */
  pageSize?: number;
  /** Retry backoff bounds (default 250 ms … 30 s). */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** For logs. */
  name?: string;
}

export interface InformerStats {
  lists: number;
  watches: number;
  stalls: number;
  errors: number;
  events: number;
}

function keyOf(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

export class Informer<T extends KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandlers<T>[] = [];
  private resourceVersion = '';
  private running = false;
  private synced = false;
  private loop?: Promise<void>;
  private abort?: AbortController;
  private sleepTimer?: NodeJS.Timeout;
  private wake?: () => void;
  private lastList = 0;
  private readonly log;
  readonly stats: InformerStats = { lists: 0, watches: 0, stalls: 0, errors: 0, events: 0 };

  constructor(private readonly opts: InformerOptions) {
    this.log = logger('informer', { resource: opts.name ?? opts.path });
  }

  addHandler(h: InformerHandlers<T>): void {
    this.handlers.push(h);
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  /** Starts list+watch; resolves once the cache holds a first full list (retrying until then). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    let firstSync!: () => void;
    const synced = new Promise<void>((r) => (firstSync = r));
    this.loop = this.run(firstSync);
    await Promise.race([synced, this.loop]);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort();
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wake?.();
    await this.loop;
  }

  /** Forces a relist now (used by tests and by callers that suspect drift). */
  relist(): void {
    this.resourceVersion = '';
    this.abort?.abort();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      this.wake = r;
      this.sleepTimer = setTimeout(r, ms);
    });
  }

  private async run(onFirstSync: () => void): Promise<void> {
    const min = this.opts.backoffMinMs ?? 250;
    const max = this.opts.backoffMaxMs ?? 30_000;
    const relistEvery = this.opts.relistIntervalMs ?? 300_000;
    let failures = 0;
    while (this.running) {
      try {
        const due = relistEvery > 0 && Date.now() - this.lastList >= relistEvery;
        if (!this.resourceVersion || due || failures >= 3) {
          await this.doList();
          if (!this.synced) {
            this.synced = true;
            onFirstSync();
          }
        }
        failures = 0;
        await this.doWatch(relistEvery);
      } catch (err) {
        if (!this.running) break;
        this.stats.errors++;
        if (err instanceof KubeApiError && err.code === 410) {
          this.resourceVersion = '';
          continue;
        }
        failures++;
        const delay = Math.min(max, min * 2 ** Math.min(failures - 1, 16)) * (0.8 + Math.random() * 0.4);
        this.log.warn({ err: (err as Error).message, failures, delayMs: Math.round(delay) }, 'list/watch failed; retrying');
        await this.sleep(delay);
      }
    }
  }

  private async doList(): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    for (let page = 0; page < 100_000; page++) {
      const l = await this.opts.client.list<T>(this.opts.path, {
        labelSelector: this.opts.labelSelector,
        fieldSelector: this.opts.fieldSelector,
        limit: this.opts.pageSize ?? 500,
        continue: cont,
      });
      for (const o of l.items ?? []) fresh.set(keyOf(o), o);
      rv = l.metadata?.resourceVersion ?? rv;
      cont = l.metadata?.continue || undefined;
      if (!cont) break;
    }
    this.stats.lists++;
    this.lastList = Date.now();
    // diff against the cache so handlers see exactly what changed while we were not watching
    for (const [k, old] of this.cache) {
      if (!fresh.has(k)) {
        this.cache.delete(k);
        this.emit('delete', old);
      }
    }
    for (const [k, o] of fresh) {
      const old = this.cache.get(k);
      this.cache.set(k, o);
      if (!old) this.emit('add', o);
      else if (old.metadata.resourceVersion !== o.metadata.resourceVersion) this.emit('update', o, old);
    }
    this.resourceVersion = rv;
  }

  private async doWatch(relistEvery: number): Promise<void> {
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 60;
    const ac = new AbortController();
    this.abort = ac;
    let stalled = false;
    let gone = false;
    // the watchdog: the server promised to close by timeoutSeconds; if it has not, the
    // stream is half-open and must be restarted. A due relist also ends the watch.
    const limit = Math.min(
      timeoutSeconds * 1000 + (this.opts.stallGraceMs ?? 15_000),
      relistEvery > 0 ? Math.max(1000, relistEvery - (Date.now() - this.lastList)) : Infinity,
    );
    const watchdog = setTimeout(() => {
      stalled = Date.now() - this.lastList < relistEvery || relistEvery <= 0;
      ac.abort();
    }, limit);
    this.stats.watches++;
    try {
      await this.opts.client.watch<T>(
        this.opts.path,
        {
          resourceVersion: this.resourceVersion,
          labelSelector: this.opts.labelSelector,
          fieldSelector: this.opts.fieldSelector,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        (e) => {
          if (ac.signal.aborted) return;
          if (this.onEvent(e) === 'gone') {
            gone = true;
            ac.abort();
          }
        },
        ac.signal,
      );
    } catch (err) {
      if (!ac.signal.aborted) throw err;
    } finally {
      clearTimeout(watchdog);
      this.abort = undefined;
    }
    if (stalled) {
      this.stats.stalls++;
      this.log.warn({ timeoutSeconds }, 'watch stalled past its timeout; restarting');
    }
    if (gone) this.resourceVersion = '';
  }

  private onEvent(e: WatchEvent<T>): 'gone' | void {
    this.stats.events++;
    const o = e.object;
    if (e.type === 'ERROR') {
      const code = (o as any)?.code;
      if (code === 410) return 'gone';
      throw new KubeApiError(`watch error: ${(o as any)?.message ?? 'unknown'}`, code ?? 500, (o as any)?.reason ?? 'WatchError', o);
    }
    if (!o?.metadata) return;
    if (o.metadata.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (e.type === 'BOOKMARK') return;
    const k = keyOf(o);
    if (e.type === 'DELETED') {
      const old = this.cache.get(k);
      this.cache.delete(k);
      this.emit('delete', old ?? o);
      return;
    }
    const old = this.cache.get(k);
    this.cache.set(k, o);
    if (old) this.emit('update', o, old);
    else this.emit('add', o);
  }

  private emit(kind: 'add' | 'update' | 'delete', o: T, old?: T): void {
    for (const h of this.handlers) {
      try {
        if (kind === 'add') h.add?.(o);
        else if (kind === 'update') h.update?.(o, old!);
        else h.delete?.(o);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'informer handler threw');
      }
    }
  }
}
