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
  const { rt, version, query } = s;
  const match = combine(
    rt.namespaced && s.namespace ? (o) => o.metadata.namespace === s.namespace : undefined,
    parseLabelSelector(query.get('labelSelector') ?? undefined),
    parseFieldSelector(rt, query.get('fieldSelector') ?? undefined),
    s.name ? (o) => o.metadata.name === s.name : undefined,
  );
  const accept = req.headers.accept;
  const table = wantsTable(accept);
  const printer = table ? printerFor(rt, version) : undefined;
  const include = (query.get('includeObject') ?? 'Metadata') as IncludeObject;
  const bookmarks = query.get('allowWatchBookmarks') === 'true';
  const rvParam = query.get('resourceVersion') ?? '';
  const sendInitial = query.get('sendInitialEvents') === 'true';
  const timeoutParam = Number(query.get('timeoutSeconds') ?? 0);
  const timeoutMs = (timeoutParam > 0 ? timeoutParam : defaultTimeoutSeconds * (1 + Math.random())) * 1000;
  const present = (o: KObject) => handlers.present(rt, version, o);
  const kindApiVersion = apiVersionOf(rt.group, version);

  res.writeHead(200, {
    'Content-Type': table ? tableContentType(accept) : 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  res.flushHeaders();

  let closed = false;
  let unsubscribe: (() => void) | undefined;
  const timers: NodeJS.Timeout[] = [];
  let first = true;
  const write = (type: string, o: KObject): void => {
    if (closed) return;
    if (printer) {
      const t = toTable(printer, [present(o)], include, { resourceVersion: o.metadata.resourceVersion }, first);
      res.write(JSON.stringify({ type, object: t }) + '\n');
    } else {
      const json = o.apiVersion === kindApiVersion && o.kind === rt.kind ? storedJson(o) : cachedJson(o, version, present);
      res.write(`{"type":"${type}","object":${json}}\n`);
    }
    first = false;
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    if (closed) return;
    const metadata: Record<string, unknown> = { resourceVersion: String(store.currentRV()) };
    if (annotations) metadata.annotations = annotations;
    res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: rt.kind, apiVersion: kindApiVersion, metadata } }) + '\n');
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    unsubscribe?.();
    for (const t of timers) clearTimeout(t);
    active.delete(handle);
    if (!res.writableEnded) res.end();
  };
  const handle: ActiveWatch = { close };
  active.add(handle);
  res.on('close', close);
  req.on('close', () => {
    if (res.writableFinished || res.destroyed) close();
  });

  const fail = (e: ApiError): void => {
    if (!closed) res.write(JSON.stringify({ type: 'ERROR', object: e.toStatus() }) + '\n');
    close();
  };

  const onEvent = (ev: StoreEvent): void => {
    const now = match(ev.object);
    const before = ev.prev ? match(ev.prev) : false;
    if (ev.type === 'ADDED') {
      if (now) write('ADDED', ev.object);
      return;
    }
    if (ev.type === 'DELETED') {
      if (before) write('DELETED', ev.object);
      return;
    }
    if (now && before) write('MODIFIED', ev.object);
    else if (now) write('ADDED', ev.object);
    else if (before)
      write('DELETED', { ...ev.prev!, metadata: { ...ev.prev!.metadata, resourceVersion: ev.object.metadata.resourceVersion } });
  };

  const start = (): void => {
    if (closed) return;
    try {
      if (rvParam === '' || rvParam === '0' || sendInitial) {
        const from = store.currentRV();
        for (const o of store.list(resourceKey(rt), rt.namespaced && s.namespace ? s.namespace : undefined))
          if (match(o)) write('ADDED', o);
        if (sendInitial && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
        unsubscribe = store.subscribe(resourceKey(rt), from, onEvent);
      } else {
        const n = Number(rvParam);
        if (!Number.isInteger(n) || n < 0) throw new ApiError(400, 'BadRequest', `invalid resource version: ${rvParam}`);
        unsubscribe = store.subscribe(resourceKey(rt), n, onEvent);
      }
    } catch (e) {
      if (e instanceof ApiError) return fail(e);
      throw e;
    }
    if (bookmarks) {
      const tick = (): void => {
        bookmark();
        timers.push(setTimeout(tick, BOOKMARK_INTERVAL_MS));
      };
      timers.push(setTimeout(tick, BOOKMARK_INTERVAL_MS));
    }
    timers.push(
      setTimeout(() => {
        if (bookmarks) bookmark();
        close();
      }, timeoutMs),
    );
  };

  const requested = Number(rvParam);
  if (rvParam !== '' && Number.isInteger(requested) && requested > store.currentRV() && !sendInitial) {
    // A future RV: give the store a moment to catch up, as the watch cache does, then time out.
    timers.push(
      setTimeout(() => {
        if (store.currentRV() >= requested) return start();
        fail(
          new ApiError(504, 'Timeout', `Too large resource version: ${requested}, current: ${store.currentRV()}`, {
            causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
            retryAfterSeconds: 1,
          }),
        );
      }, 3000),
    );
    return;
  }
  start();
}
