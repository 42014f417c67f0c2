/**
 * The connections of one registry transport, on Node's own fetch: HTTPS unless the host was
 * named as a plain-HTTP registry, an optional custom CA, a timeout on every request. Request
 * bodies take `node:http` instead (fetch copies a Uint8Array body before sending it, and costs
 * ~8x the CPU on a 64 MiB upload: docs/storage.md), on keep-alive pools, under the same
 * rules. One exchange each: authentication and retries are the transport's.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { RegistryError } from '../errors.js';
import { networkError } from './failures.js';
import {
  DEFAULT_TRANSFER_LIMITS,
  guardedResponse,
  type TransferGuard,
  TransferGuard as Guard,
  type TransferLimits,
} from './transfer-guard.js';

export interface Sent {
  res: Response;
  /** abort the exchange (e.g. from an idle timer while reading the body) */
  abort(reason?: unknown): void;
  signal: AbortSignal;
}

/** Redirects followed for a request with a body (and for a direct blob download). */
export const MAX_REDIRECTS = 5;

export class HttpConnections {
  private caFetch: Promise<typeof fetch | undefined> | undefined;
  private ca: string | undefined;
  private agents: { http: HttpAgent; https: HttpsAgent } | undefined;

  constructor(private readonly opts: { plainHttpHosts: string[]; caFile?: string; limits?: TransferLimits }) {}

  /** The deadline and minimum rate every exchange of these connections is held to. */
  get limits(): TransferLimits {
    return this.opts.limits ?? DEFAULT_TRANSFER_LIMITS;
  }

  /** Whether `hostPort` was named as a plain-HTTP registry or token realm. */
  isPlain(hostPort: string): boolean {
    return this.opts.plainHttpHosts.map((h) => h.toLowerCase()).includes(hostPort.toLowerCase());
  }

  /**
   * One request, no retries and no auth: a body goes through node:http(s), all else through
   * fetch. Held to `guard` (a deadline and minimum rate across the caller's attempts; the caller
   * then guards the body it keeps: guardedResponse), or to a guard of its own that ends with
   * the body read here.
   */
  async fetchOnce(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    timeoutMs: number,
    guard?: TransferGuard,
  ): Promise<Sent> {
    if (guard) return this.exchange(method, url, headers, body, timeoutMs, guard);
    const own = new Guard(this.limits, `${method} ${url}`);
    try {
      return guardedResponse(await this.exchange(method, url, headers, body, timeoutMs, own), own);
    } catch (e) {
      own.finish();
      throw e;
    }
  }

  private async exchange(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    timeoutMs: number,
    guard: TransferGuard,
  ): Promise<Sent> {
    if (guard.failure) throw guard.failure;
    if (body && body.length > 0) return this.sendBody(method, url, headers, body, timeoutMs, guard);
    const controller = linked(guard);
    const timer = setTimeout(
      () => controller.abort(new RegistryError('TIMEOUT', `${method} ${url} took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
    const custom = await this.customCaFetch();
    try {
      const init: RequestInit = { method, headers, body, signal: controller.signal, redirect: 'follow' };
      const res = custom ? await custom(url, init) : await fetch(url, init);
      return { res, abort: (r) => controller.abort(r), signal: controller.signal };
    } catch (e) {
      throw networkError(e, method, url, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A request with a body, through node:http(s) so the bytes are written from the caller's
   * buffer as they are (no copy), on keep-alive connections. 307/308 are followed with the
   * same body as fetch would (credentials only on the original origin); other answers are
   * returned as they come. The timer covers sending the body and receiving the head.
   */
  private async sendBody(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Uint8Array,
    timeoutMs: number,
    guard: TransferGuard,
  ): Promise<Sent> {
    const controller = linked(guard);
    const origin = new URL(url).origin;
    let target = url;
    for (let hop = 0; ; hop++) {
      const t = new URL(target);
      if (t.protocol === 'http:' && !this.isPlain(t.host)) {
        throw new RegistryError('PLAIN_HTTP_REFUSED', `refusing plain HTTP to ${t.host} (redirected there by ${new URL(url).host})`);
      }
      const sendHeaders: Record<string, string> = { ...headers, 'content-length': String(body.length) };
      if (t.origin !== origin) delete sendHeaders.authorization;
      let res: IncomingMessage;
      try {
        res = await this.requestOnce(method, t, sendHeaders, body, timeoutMs, controller, guard);
      } catch (e) {
        throw networkError(e, method, target, controller.signal);
      }
      const location = res.headers.location;
      if ((res.statusCode === 307 || res.statusCode === 308) && location && hop < MAX_REDIRECTS) {
        res.resume();
        target = new URL(location, target).toString();
        continue;
      }
      return { res: toResponse(res, method), abort: (r) => controller.abort(r), signal: controller.signal };
    }
  }

  private requestOnce(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Uint8Array,
    timeoutMs: number,
    controller: AbortController,
    guard: TransferGuard,
  ): Promise<IncomingMessage> {
    const agents = this.getAgents();
    return new Promise<IncomingMessage>((resolve, reject) => {
      const https = url.protocol === 'https:';
      const req = (https ? httpsRequest : httpRequest)(url, { method, headers, agent: https ? agents.https : agents.http }, (res) => {
        clearTimeout(timer);
        controller.signal.addEventListener('abort', () => res.destroy(controller.signal.reason as Error), { once: true });
        resolve(res);
      });
      const timer = setTimeout(
        () => controller.abort(new RegistryError('TIMEOUT', `${method} ${url} took longer than ${timeoutMs} ms`)),
        timeoutMs,
      );
      controller.signal.addEventListener('abort', () => req.destroy(controller.signal.reason as Error), { once: true });
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      writeCounted(req, body, guard).catch(() => {}); // a failed write surfaces as the request's error
    });
  }

  /** Keep-alive pools: one shared by all transports, or this transport's own when it has a CA. */
  private getAgents(): { http: HttpAgent; https: HttpsAgent } {
    const ca = this.caPem();
    if (!ca) return (sharedAgents ??= newAgents());
    this.agents ??= newAgents(ca);
    return this.agents;
  }

  /** The custom CA's PEM (read once), or undefined when none was given. */
  caPem(): string | undefined {
    if (!this.opts.caFile) return undefined;
    try {
      this.ca ??= readFileSync(this.opts.caFile, 'utf8');
    } catch (e) {
      throw new RegistryError('UNREACHABLE', `cannot read CA file ${this.opts.caFile}: ${(e as Error).message}`);
    }
    return this.ca;
  }

  /**
   * A custom CA needs an undici Agent with `connect.ca`, and a fetch of the same undici: Node's
   * own fetch does not export its Agent (and on Node 26 its global dispatcher is a wrapper whose
   * constructor makes no Agent), so requests to a registry with a custom CA go through the
   * `undici` package's fetch and Agent, paired. Without a CA file, Node's fetch as it is.
   */
  private customCaFetch(): Promise<typeof fetch | undefined> {
    if (!this.opts.caFile) return Promise.resolve(undefined);
    this.caFetch ??= (async () => {
      const ca = this.caPem();
      const undici = await import('undici');
      const dispatcher = new undici.Agent({ connect: { ca } });
      return ((url: string, init: RequestInit) => undici.fetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch;
    })();
    return this.caFetch;
  }
}

/** An exchange's own controller, aborted with the guard's failure when the guard fails. */
function linked(guard: TransferGuard): AbortController {
  const controller = new AbortController();
  guard.signal.addEventListener('abort', () => controller.abort(guard.failure), { once: true, signal: controller.signal });
  return controller;
}

const WRITE_SLICE = 1024 * 1024;

/**
 * The body written in 1 MiB views of the caller's buffer (no copy), each counted once the
 * socket has taken it, so the guard's rate windows see an upload move; once all is out the
 * answer is the deadline's alone.
 */
async function writeCounted(req: ReturnType<typeof httpRequest>, body: Uint8Array, guard: TransferGuard): Promise<void> {
  let written = 0;
  guard.measure(() => written);
  req.once('finish', () => guard.pause());
  for (let off = 0; off < body.length; off += WRITE_SLICE) {
    const piece = body.subarray(off, off + WRITE_SLICE);
    const more = req.write(piece, () => {
      written += piece.length;
    });
    if (!more) await once(req, 'drain');
  }
  req.end();
}

let sharedAgents: { http: HttpAgent; https: HttpsAgent } | undefined;

/** Idle pooled connections close after 15 s, so short-lived stores leave nothing open for long. */
function newAgents(ca?: string): { http: HttpAgent; https: HttpsAgent } {
  return { http: new HttpAgent({ keepAlive: true, timeout: 15_000 }), https: new HttpsAgent({ keepAlive: true, timeout: 15_000, ca }) };
}

/** A node:http answer as a fetch Response, so callers read both alike. */
function toResponse(res: IncomingMessage, method: string): Response {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
  const status = res.statusCode ?? 0;
  const empty = method === 'HEAD' || status === 204 || status === 205 || status === 304;
  if (empty) res.resume();
  if (status < 200 || status > 599) {
    res.destroy();
    throw new RegistryError('HTTP_ERROR', `${method}: the registry answered with status ${status}`, { status });
  }
  return new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
    status,
    statusText: res.statusMessage ?? '',
    headers,
  });
}
