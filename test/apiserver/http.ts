/** Raw HTTPS requests against the emulator (for what client-node does not expose: exact
 *  headers, content types, watch streams). Trusts only the emulator's CA. */
import { request } from 'node:https';
import type { ApiServer } from '../../apiserver/index.js';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export function raw(
  api: ApiServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  token: string | null = api.token,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, api.url);
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = request(
      u,
      {
        method,
        ca: api.caPem,
        headers: {
          Accept: 'application/json',
          ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) } : {}),
          ...(token ? { Authorization: `Bearer ${token}` } : {}),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface WatchStream {
  events: any[];
  ended: Promise<void>;
  close(): void;
  waitFor(pred: (evs: any[]) => boolean, ms?: number): Promise<any[]>;
}

/** Open a watch and collect its events until the server ends it or close() is called. */
export function watch(api: ApiServer, path: string, headers: Record<string, string> = {}): Promise<WatchStream> {
  return new Promise((resolve, reject) => {
    const events: any[] = [];
    let buf = '';
    let endResolve: () => void;
    const ended = new Promise<void>((r) => {
      endResolve = r;
    });
    const req = request(
      new URL(path, api.url),
      { method: 'GET', ca: api.caPem, headers: { Accept: 'application/json', Authorization: `Bearer ${api.token}`, ...headers } },
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          buf += c;
          let i: number;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.trim()) events.push(JSON.parse(line));
          }
        });
        res.on('end', () => endResolve());
        res.on('close', () => endResolve());
        resolve({
          events,
          ended,
          close: () => req.destroy(),
          async waitFor(pred, ms = 5000) {
            const deadline = Date.now() + ms;
            while (!pred(events)) {
              if (Date.now() > deadline)
                throw new Error(
                  `watch ${path}: condition not met in ${ms} ms; got ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name, e.object?.metadata?.resourceVersion]))}`,
                );
              await new Promise((r) => setTimeout(r, 20));
            }
            return events;
          },
        });
      },
    );
    req.on('error', (e) => {
      endResolve();
      if ((e as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(e);
    });
    req.end();
  });
}

export async function eventually<T>(
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  ms = 5000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached in ${ms} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
