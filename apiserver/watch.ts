/**
 * Watch streams: newline-delimited `{"type","object"}` events over a chunked 200 response.
 * Without a resourceVersion the stream starts with the current state as ADDED events (and, for
 * `sendInitialEvents`, a BOOKMARK annotated `k8s.io/initial-events-end`); with one it replays
 * the store's history after that RV or reports 410 Expired. Selector transitions are judged on
 * (previous, new) like the watch cache, so an object leaving a selector arrives as DELETED.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.js';
import type { ResourceHandlers } from './handlers.js';
import { combine, parseFieldSelector, parseLabelSelector } from './selectors.js';
import { storedJson, type Store, type StoreEvent } from './store.js';
import { printerFor, tableContentType, toTable, wantsTable, type IncludeObject } from './table.js';
import { apiVersionOf, resourceKey, type KObject, type RequestScope } from './types.js';

const BOOKMARK_INTERVAL_MS = 60_000;

/** Objects serialised for a version other than the stored one, shared by every watcher of the
 *  same event (fan-out stays cheap); the stored version's text is storedJson's. */
const otherVersionJson = new WeakMap<KObject, Map<string, string>>();

function cachedJson(o: KObject, version: string, present: (o: KObject) => KObject): string {
  let m = otherVersionJson.get(o);
  if (!m) {
    m = new Map();
    otherVersionJson.set(o, m);
  }
  let s = m.get(version);
  if (s === undefined) {
    s = JSON.stringify(present(o));
    m.set(version, s);
  }
  return s;
}

export interface ActiveWatch {
  close(): void;
}

/** What a watch request asks for, read from its query. */
interface WatchRequest {
  match: (o: KObject) => boolean;
  bookmarks: boolean;
  rvParam: string;
  sendInitial: boolean;
  timeoutMs: number;
}

function watchRequest(s: RequestScope, defaultTimeoutSeconds: number): WatchRequest {
  const { rt, query } = s;
  const match = combine(
    rt.namespaced && s.namespace ? (o) => o.metadata.namespace === s.namespace : undefined,
    parseLabelSelector(query.get('labelSelector') ?? undefined),
    parseFieldSelector(rt, query.get('fieldSelector') ?? undefined),
    s.name ? (o) => o.metadata.name === s.name : undefined,
  );
  const timeoutParam = Number(query.get('timeoutSeconds') ?? 0);
  return {
    match,
    bookmarks: query.get('allowWatchBookmarks') === 'true',
    rvParam: query.get('resourceVersion') ?? '',
    sendInitial: query.get('sendInitialEvents') === 'true',
    timeoutMs: (timeoutParam > 0 ? timeoutParam : defaultTimeoutSeconds * (1 + Math.random())) * 1000,
  };
}

/** One open watch: the events it writes, its bookmarks and timers, and how it ends. */
class WatchStream implements ActiveWatch {
  private closed = false;
  private unsubscribe?: () => void;
  private readonly timers: NodeJS.Timeout[] = [];
  private first = true;
  private readonly printer;
  private readonly include: IncludeObject;
  private readonly kindApiVersion: string;

  constructor(
    private readonly res: ServerResponse,
    private readonly store: Store,
    private readonly handlers: ResourceHandlers,
    private readonly s: RequestScope,
    private readonly w: WatchRequest,
    private readonly active: Set<ActiveWatch>,
    table: boolean,
  ) {
    this.printer = table ? printerFor(s.rt, s.version) : undefined;
    this.include = (s.query.get('includeObject') ?? 'Metadata') as IncludeObject;
    this.kindApiVersion = apiVersionOf(s.rt.group, s.version);
  }

  private present = (o: KObject): KObject => this.handlers.present(this.s.rt, this.s.version, o);

  private write(type: string, o: KObject): void {
    if (this.closed) return;
    if (this.printer) {
      const t = toTable(this.printer, [this.present(o)], this.include, { resourceVersion: o.metadata.resourceVersion }, this.first);
      this.res.write(JSON.stringify({ type, object: t }) + '\n');
    } else {
      const stored = o.apiVersion === this.kindApiVersion && o.kind === this.s.rt.kind;
      const json = stored ? storedJson(o) : cachedJson(o, this.s.version, this.present);
      this.res.write(`{"type":"${type}","object":${json}}\n`);
    }
    this.first = false;
  }

  private bookmark(annotations?: Record<string, string>): void {
    if (this.closed) return;
    const metadata: Record<string, unknown> = { resourceVersion: String(this.store.currentRV()) };
    if (annotations) metadata.annotations = annotations;
    const object = { kind: this.s.rt.kind, apiVersion: this.kindApiVersion, metadata };
    this.res.write(JSON.stringify({ type: 'BOOKMARK', object }) + '\n');
  }

  close = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    for (const t of this.timers) clearTimeout(t);
    this.active.delete(this);
    if (!this.res.writableEnded) this.res.end();
  };

  fail(e: ApiError): void {
    if (!this.closed) this.res.write(JSON.stringify({ type: 'ERROR', object: e.toStatus() }) + '\n');
    this.close();
  }

  /** A store event as this watcher sees it: judged on (previous, new), so leaving the selector is DELETED. */
  private onEvent = (ev: StoreEvent): void => {
    const now = this.w.match(ev.object);
    const before = ev.prev ? this.w.match(ev.prev) : false;
    if (ev.type === 'ADDED') {
      if (now) this.write('ADDED', ev.object);
      return;
    }
    if (ev.type === 'DELETED') {
      if (before) this.write('DELETED', ev.object);
      return;
    }
    if (now && before) this.write('MODIFIED', ev.object);
    else if (now) this.write('ADDED', ev.object);
    else if (before)
      this.write('DELETED', { ...ev.prev!, metadata: { ...ev.prev!.metadata, resourceVersion: ev.object.metadata.resourceVersion } });
  };

  /** Subscribes: from now with the current state first, or replaying history after the asked RV. */
  start(): void {
    if (this.closed) return;
    const { rt, namespace } = this.s;
    const { rvParam, sendInitial, bookmarks } = this.w;
    try {
      if (rvParam === '' || rvParam === '0' || sendInitial) {
        const from = this.store.currentRV();
        for (const o of this.store.list(resourceKey(rt), rt.namespaced && namespace ? namespace : undefined))
          if (this.w.match(o)) this.write('ADDED', o);
        if (sendInitial && bookmarks) this.bookmark({ 'k8s.io/initial-events-end': 'true' });
        this.unsubscribe = this.store.subscribe(resourceKey(rt), from, this.onEvent);
      } else {
        const n = Number(rvParam);
        if (!Number.isInteger(n) || n < 0) throw new ApiError(400, 'BadRequest', `invalid resource version: ${rvParam}`);
        this.unsubscribe = this.store.subscribe(resourceKey(rt), n, this.onEvent);
      }
    } catch (e) {
      if (e instanceof ApiError) return this.fail(e);
      throw e;
    }
    this.armTimers();
  }

  private armTimers(): void {
    if (this.w.bookmarks) {
      const tick = (): void => {
        this.bookmark();
        this.timers.push(setTimeout(tick, BOOKMARK_INTERVAL_MS));
      };
      this.timers.push(setTimeout(tick, BOOKMARK_INTERVAL_MS));
    }
    this.timers.push(
      setTimeout(() => {
        if (this.w.bookmarks) this.bookmark();
        this.close();
      }, this.w.timeoutMs),
    );
  }

  /** A future RV: give the store a moment to catch up, as the watch cache does, then time out. */
  startWhenCaughtUp(requested: number): void {
    this.timers.push(
      setTimeout(() => {
        if (this.store.currentRV() >= requested) return this.start();
        this.fail(
          new ApiError(504, 'Timeout', `Too large resource version: ${requested}, current: ${this.store.currentRV()}`, {
            causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
            retryAfterSeconds: 1,
          }),
        );
      }, 3000),
    );
  }
}

/** `defaultTimeoutSeconds` plays kube-apiserver's --min-request-timeout: watches without a
 *  timeoutSeconds last between it and twice it. */
export function serveWatch(
  req: IncomingMessage,
  res: ServerResponse,
  store: Store,
  handlers: ResourceHandlers,
  s: RequestScope,
  active: Set<ActiveWatch>,
  defaultTimeoutSeconds = 1800,
): void {
  const w = watchRequest(s, defaultTimeoutSeconds);
  const accept = req.headers.accept;
  const table = wantsTable(accept);
  res.writeHead(200, {
    'Content-Type': table ? tableContentType(accept) : 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  res.flushHeaders();

  const stream = new WatchStream(res, store, handlers, s, w, active, table);
  active.add(stream);
  res.on('close', stream.close);
  req.on('close', () => {
    if (res.writableFinished || res.destroyed) stream.close();
  });

  const requested = Number(w.rvParam);
  if (w.rvParam !== '' && Number.isInteger(requested) && requested > store.currentRV() && !w.sendInitial) {
    stream.startWhenCaughtUp(requested);
    return;
  }
  stream.start();
}
