/**
 * HTTP for one registry host, on Node's own fetch: HTTPS unless the host was named as a
 * plain-HTTP registry, an optional custom CA, timeouts on every request, bounded retries
 * with backoff on 5xx/429 and connection errors (idempotent requests only), and the auth
 * dance of auth.ts (preemptive once the scheme is known, so request bodies are sent once).
 *
 * Bulk bytes take Node's lower layers instead, for speed (numbers in docs/storage.md):
 * request bodies go out through `node:http` (fetch copies a Uint8Array body before sending
 * it, and costs ~8x the CPU on a 64 MiB upload), and large blob GETs read straight into their
 * final buffer (blob-download.ts). Both answer to the same rules: plain HTTP only where named,
 * the same CA, the same timeouts and credentials.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { downloadBlob, type BlobDownloadResult } from './blob-download.js';
import { RegistryError } from '../errors.js';
import { basicHeader, parseChallenge, TokenCache, type RegistryCredentials } from './auth.js';

export interface TransportOptions {
  host: string;
  repository: string;
  /** HOST:PORT values that may be spoken to over plain HTTP (registries and token realms) */
  plainHttpHosts: string[];
  credentials?: RegistryCredentials;
  caFile?: string;
  /** per-request budget for headers; bodies add time by size (see budgetFor) */
  timeoutMs: number;
  /** longest pause between two reads of a blob body */
  idleTimeoutMs: number;
  maxRetries: number;
}

export interface RequestInit2 {
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** `pull` or `pull,push`: the scope asked of a token server */
  actions: 'pull' | 'pull,push';
  /** retry on connection errors and 5xx (only for requests that can be repeated) */
  retry: boolean;
  /** override of the header timeout (ms) */
  timeoutMs?: number;
}

export interface Sent {
  res: Response;
  /** abort the exchange (e.g. from an idle timer while reading the body) */
  abort(reason?: unknown): void;
  signal: AbortSignal;
}

const MIN_RATE_BYTES_PER_MS = 1024; // 1 MiB/s floor when budgeting a body transfer
const MAX_REDIRECTS = 5;

export class RegistryTransport {
  readonly baseUrl: string;
  private scheme: 'none' | 'basic' | 'bearer' | undefined;
  private bearerParams: Record<string, string> = {};
  private readonly tokens = new TokenCache();
  private readonly tokenFetches = new Map<string, Promise<void>>();
  private dispatcher: Promise<object | undefined> | undefined;
  private ca: string | undefined;
  private agents: { http: HttpAgent; https: HttpsAgent } | undefined;
  /** token requests made, for tests that check caching */
  tokenRequests = 0;

  constructor(private readonly opts: TransportOptions) {
    this.baseUrl = (this.isPlain(opts.host) ? 'http://' : 'https://') + opts.host;
  }

  private isPlain(hostPort: string): boolean {
    return this.opts.plainHttpHosts.map((h) => h.toLowerCase()).includes(hostPort.toLowerCase());
  }

  url(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }

  get idleTimeoutMs(): number {
    return this.opts.idleTimeoutMs;
  }

  budgetFor(bytes: number): number {
    return this.opts.timeoutMs + Math.ceil(bytes / MIN_RATE_BYTES_PER_MS);
  }

  /** Send one request, authenticating and retrying as needed; the caller reads or cancels the body. */
  async send(method: string, pathOrUrl: string, init: RequestInit2): Promise<Sent> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : this.url(pathOrUrl);
    const target = new URL(url);
    if (target.protocol === 'http:' && !this.isPlain(target.host)) {
      throw new RegistryError(
        'PLAIN_HTTP_REFUSED',
        `refusing plain HTTP to ${target.host}: name it as a plain-HTTP registry (--plain-http) if it really serves no TLS`,
      );
    }
    await this.authenticateAhead(init.actions, init.body !== undefined);
    let authTried = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const auth = this.preemptiveAuth(init.actions);
      if (auth) headers.authorization = auth;
      let sent: Sent;
      try {
        sent = await this.fetchOnce(method, url, headers, init.body, init.timeoutMs ?? this.budgetFor(init.body?.length ?? 0));
      } catch (e) {
        if (init.retry && attempt < this.opts.maxRetries && isRetryable(e)) {
          await backoff(attempt);
          continue;
        }
        throw e;
      }
      const { res } = sent;
      if (res.status === 401) {
        await discard(res);
        if (authTried)
          throw new RegistryError(
            'AUTH_FAILED',
            `${this.opts.host} refused our credentials for ${method} ${target.pathname} (401); check the username/password or token for ${this.opts.host}`,
            { status: 401 },
          );
        authTried = true;
        await this.authenticate(res.headers.get('www-authenticate'), init.actions, true);
        attempt--; // an auth round is not a retry
        continue;
      }
      if ((res.status >= 500 || res.status === 429) && init.retry && attempt < this.opts.maxRetries) {
        await discard(res);
        await backoff(attempt);
        continue;
      }
      return sent;
    }
  }

  /** GET /v2/ to learn the auth scheme before sending a body (so it is sent once). */
  async ping(): Promise<void> {
    const sent = await this.fetchOnce('GET', this.url('/v2/'), {}, undefined, this.opts.timeoutMs);
    await discard(sent.res);
    if (sent.res.status === 401) await this.authenticate(sent.res.headers.get('www-authenticate'), 'pull', false);
    else if (sent.res.ok) this.scheme = 'none';
    else
      throw new RegistryError('HTTP_ERROR', `${this.opts.host} does not answer as an OCI registry: GET /v2/ returned ${sent.res.status}`, {
        status: sent.res.status,
      });
  }

  /**
   * A short-lived token for pulling this one repository (scope `repository:<name>:pull`) from
   * the registry's token service, exchanged with these credentials; undefined when the
   * registry does not use bearer tokens (basic auth or none) or the credentials already are a
   * registry token. Rejects with AUTH_FAILED when the token service refuses. Used to hand a
   * node the narrowest credential (controller/instance-pull-creds.ts).
   */
  async repositoryPullToken(): Promise<{ token: string; expiresInSeconds: number } | undefined> {
    if (this.opts.credentials?.registryToken) return undefined;
    await this.ping();
    if (this.scheme !== 'bearer') return undefined;
    await this.requestToken('pull');
    const token = this.tokens.get(this.scopeFor('pull'));
    return token ? { token, expiresInSeconds: this.lastExpiresIn } : undefined;
  }

  /** expires_in of the last token the token service issued */
  private lastExpiresIn = 60;

  /**
   * Credentials ready before a request rather than a 401 after it (which would send a body
   * twice): the scheme learnt by a ping when `ping` and still unknown, the scope's token fetched
   * once bearer auth is known.
   */
  private async authenticateAhead(actions: 'pull' | 'pull,push', ping: boolean): Promise<void> {
    if (this.scheme === undefined && ping) await this.ping();
    if (this.scheme === 'bearer' && !this.tokens.get(this.scopeFor(actions))) await this.fetchToken(actions);
  }

  private preemptiveAuth(actions: string): string | undefined {
    const c = this.opts.credentials;
    if (this.scheme === 'basic') return c ? basicHeader(c) : undefined;
    if (this.scheme === 'bearer') {
      const t = this.tokens.get(this.scopeFor(actions));
      return t ? `Bearer ${t}` : undefined;
    }
    return undefined;
  }

  private scopeFor(actions: string): string {
    return `repository:${this.opts.repository}:${actions}`;
  }

  private async authenticate(header: string | null, actions: 'pull' | 'pull,push', fetchToken: boolean): Promise<void> {
    const challenge = parseChallenge(header);
    if (!challenge)
      throw new RegistryError(
        'AUTH_FAILED',
        `${this.opts.host} requires authentication but sent no usable WWW-Authenticate challenge (${header ?? 'none'})`,
        { status: 401 },
      );
    const c = this.opts.credentials;
    if (challenge.scheme === 'basic') {
      this.scheme = 'basic';
      if (!c || !basicHeader(c))
        throw new RegistryError(
          'AUTH_FAILED',
          `${this.opts.host} requires a username and password; none were given (docker config or pull secret)`,
          { status: 401 },
        );
      return;
    }
    this.scheme = 'bearer';
    this.bearerParams = challenge.params;
    if (fetchToken) await this.fetchToken(actions);
  }

  /** One token request per scope at a time: concurrent requests (config and layer uploads) share it. */
  private fetchToken(actions: 'pull' | 'pull,push'): Promise<void> {
    const scope = this.scopeFor(actions);
    let running = this.tokenFetches.get(scope);
    if (!running) {
      running = this.requestToken(actions).finally(() => this.tokenFetches.delete(scope));
      this.tokenFetches.set(scope, running);
    }
    return running;
  }

  private async requestToken(actions: 'pull' | 'pull,push'): Promise<void> {
    const scope = this.scopeFor(actions);
    const c = this.opts.credentials;
    if (c?.registryToken) {
      this.tokens.set(scope, c.registryToken, 3600);
      return;
    }
    const realm = this.bearerParams.realm;
    if (!realm)
      throw new RegistryError('AUTH_FAILED', `${this.opts.host} asked for a bearer token without naming a realm`, { status: 401 });
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new RegistryError('AUTH_FAILED', `${this.opts.host} named an invalid token realm "${realm}"`);
    }
    if (realmUrl.protocol !== 'https:' && !(realmUrl.protocol === 'http:' && this.isPlain(realmUrl.host))) {
      throw new RegistryError(
        'PLAIN_HTTP_REFUSED',
        `token realm ${realm} is not HTTPS; credentials are not sent over plain HTTP unless ${realmUrl.host} is named as a plain-HTTP host`,
      );
    }
    let res: Response;
    this.tokenRequests++;
    if (c?.identityToken) {
      // docker's identity token is an OAuth2 refresh token: exchange it with a POST (distribution token spec, OAuth2 flow)
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: c.identityToken, scope, client_id: 'gantry' });
      if (this.bearerParams.service) form.set('service', this.bearerParams.service);
      ({ res } = await this.fetchOnce(
        'POST',
        realmUrl.toString(),
        { 'content-type': 'application/x-www-form-urlencoded' },
        Buffer.from(form.toString()),
        this.opts.timeoutMs,
      ));
    } else {
      if (this.bearerParams.service) realmUrl.searchParams.set('service', this.bearerParams.service);
      realmUrl.searchParams.append('scope', scope);
      const headers: Record<string, string> = {};
      const basic = c ? basicHeader(c) : undefined;
      if (basic) headers.authorization = basic;
      ({ res } = await this.fetchOnce('GET', realmUrl.toString(), headers, undefined, this.opts.timeoutMs));
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      throw new RegistryError(
        'AUTH_FAILED',
        `token server ${realmUrl.host} refused a token for ${scope} (${res.status})${text ? ': ' + text.slice(0, 200) : ''}`,
        { status: res.status },
      );
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError('AUTH_FAILED', `token server ${realmUrl.host} answered without a token`);
    this.lastExpiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    this.tokens.set(scope, token, this.lastExpiresIn);
  }

  private async fetchOnce(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    timeoutMs: number,
  ): Promise<Sent> {
    if (body && body.length > 0) return this.sendBody(method, url, headers, body, timeoutMs);
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new RegistryError('TIMEOUT', `${method} ${url} took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
    const dispatcher = await this.getDispatcher();
    try {
      const init: RequestInit = { method, headers, body, signal: controller.signal, redirect: 'follow' };
      if (dispatcher) (init as Record<string, unknown>).dispatcher = dispatcher;
      const res = await fetch(url, init);
      return { res, abort: (r) => controller.abort(r), signal: controller.signal };
    } catch (e) {
      throw this.mapNetworkError(e, method, url, controller.signal);
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
  private async sendBody(method: string, url: string, headers: Record<string, string>, body: Uint8Array, timeoutMs: number): Promise<Sent> {
    const controller = new AbortController();
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
        res = await this.requestOnce(method, t, sendHeaders, body, timeoutMs, controller);
      } catch (e) {
        throw this.mapNetworkError(e, method, target, controller.signal);
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
      req.end(body);
    });
  }

  /** Keep-alive pools: one shared by all transports, or this transport's own when it has a CA. */
  private getAgents(): { http: HttpAgent; https: HttpsAgent } {
    const ca = this.caPem();
    if (!ca) return (sharedAgents ??= newAgents());
    this.agents ??= newAgents(ca);
    return this.agents;
  }

  private caPem(): string | undefined {
    if (!this.opts.caFile) return undefined;
    try {
      this.ca ??= readFileSync(this.opts.caFile, 'utf8');
    } catch (e) {
      throw new RegistryError('UNREACHABLE', `cannot read CA file ${this.opts.caFile}: ${(e as Error).message}`);
    }
    return this.ca;
  }

  /**
   * A blob of known size read straight into its buffer and hashed on the way (blob-download.ts),
   * authenticated as send() would and following redirects (credentials only to the registry's
   * origin). Undefined when this path does not apply (an auth challenge, an error status, no
   * Content-Length, a connection that failed before answering): the caller then uses send().
   */
  async download(
    path: string,
    size: number,
    onProgress?: (received: number, total: number) => void,
  ): Promise<Exclude<BlobDownloadResult, { kind: 'redirect' } | { kind: 'unhandled' }> | undefined> {
    let target = new URL(this.url(path));
    try {
      await this.authenticateAhead('pull', true);
    } catch {
      return undefined; // send() meets the same trouble, retries it and names it
    }
    const auth = this.preemptiveAuth('pull');
    const origin = target.origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      if (target.protocol !== 'https:' && !(target.protocol === 'http:' && this.isPlain(target.host))) return undefined; // send() names the refusal
      const got = await downloadBlob({
        url: target,
        headers: auth && target.origin === origin ? { authorization: auth } : {},
        size,
        ca: this.caPem(),
        headerTimeoutMs: this.opts.timeoutMs,
        idleTimeoutMs: this.opts.idleTimeoutMs,
        onProgress,
      });
      if (got.kind === 'unhandled') return undefined;
      if (got.kind !== 'redirect') return got;
      target = got.location;
    }
    return undefined;
  }

  /**
   * A custom CA needs an undici Agent with `connect.ca`. Node bundles undici without exporting
   * it; the global dispatcher's constructor is that Agent class, so we take it from there
   * rather than adding a second HTTP client package.
   */
  private getDispatcher(): Promise<object | undefined> {
    if (!this.opts.caFile) return Promise.resolve(undefined);
    this.dispatcher ??= (async () => {
      const ca = this.caPem();
      await fetch('data:,');
      const global = (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')] as
        | { constructor: new (o: object) => object }
        | undefined;
      if (!global) throw new RegistryError('UNREACHABLE', 'this Node.js fetch exposes no dispatcher; a custom CA cannot be used');
      return new global.constructor({ connect: { ca } });
    })();
    return this.dispatcher;
  }

  mapNetworkError(e: unknown, method: string, url: string, signal?: AbortSignal): RegistryError {
    if (e instanceof RegistryError) return e;
    if (signal?.aborted && signal.reason instanceof RegistryError) return signal.reason;
    const err = e as Error & { cause?: Error & { code?: string } };
    const cause = err.cause;
    const code = cause?.code ?? (err as { code?: string }).code ?? '';
    const text = `${err.message} ${cause?.message ?? ''} ${code}`;
    const host = new URL(url).host;
    if (/wrong version number|WRONG_VERSION_NUMBER|packet length too long|PACKET_LENGTH_TOO_LONG/i.test(text)) {
      return new RegistryError(
        'PLAIN_HTTP_REFUSED',
        `${host} does not speak HTTPS; if it is a plain-HTTP registry, allow it explicitly (--plain-http / --plain-http-registry ${host})`,
        { cause: e },
      );
    }
    if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i.test(text)) {
      return new RegistryError(
        'UNREACHABLE',
        `TLS to ${host} failed: ${cause?.message ?? err.message}; give the registry's CA with caFile (--ca-file)`,
        { cause: e },
      );
    }
    if (err.name === 'TimeoutError' || err.name === 'AbortError')
      return new RegistryError('TIMEOUT', `${method} ${url} timed out`, { cause: e });
    return new RegistryError('UNREACHABLE', `cannot reach ${host} (${method} ${new URL(url).pathname}): ${cause?.message ?? err.message}`, {
      cause: e,
    });
  }
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

export function isRetryable(e: unknown): boolean {
  return e instanceof RegistryError && (e.code === 'UNREACHABLE' || e.code === 'TIMEOUT');
}

export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* already consumed or closed */
  }
}

export function backoff(attempt: number): Promise<void> {
  const ms = Math.min(2000, 100 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  return new Promise((r) => setTimeout(r, ms));
}

/** Registry error JSON (`{"errors":[{"code","message"}]}`) as a short string, for messages. */
export async function describeFailure(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    if (parsed.errors?.length) return parsed.errors.map((x) => `${x.code ?? ''}${x.message ? ': ' + x.message : ''}`).join('; ');
  } catch {
    /* not JSON */
  }
  return text.slice(0, 200) || res.statusText;
}
