/**
 * HTTP for one registry host: bounded retries with backoff on 5xx/429 and connection errors
 * (idempotent requests only) and authentication (auth-session.ts: preemptive once the scheme
 * is known, so request bodies are sent once), over connections.ts (fetch, or `node:http` for
 * request bodies: HTTPS unless named plain, an optional custom CA, timeouts on every request).
 *
 * Large blob GETs read straight into their final buffer instead (blob-download.ts, numbers in
 * docs/storage.md), under the same rules: plain HTTP only where named, the same CA, the same
 * timeouts and credentials.
 */
import { RegistryError } from '../errors.js';
import type { RegistryCredentials } from './auth.js';
import { type Actions, AuthSession } from './auth-session.js';
import { downloadBlob, type BlobDownloadResult, type RangeRequest } from './blob-download.js';
import { HttpConnections, MAX_REDIRECTS, type Sent } from './connections.js';
import { backoff, isRetryable } from './failures.js';
import { discard } from './responses.js';
import { guardedResponse, TransferGuard, type TransferLimits } from './transfer-guard.js';

export type { Sent } from './connections.js';

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
  /** the deadline and minimum rate of every request (transfer-guard.ts; default DEFAULT_TRANSFER_LIMITS) */
  limits?: TransferLimits;
}

export interface RequestInit2 {
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** `pull` or `pull,push`: the scope asked of a token server */
  actions: Actions;
  /** retry on connection errors and 5xx (only for requests that can be repeated) */
  retry: boolean;
  /** override of the header timeout (ms) */
  timeoutMs?: number;
  /** the guard this request shares with an earlier one (a direct download it falls back from) */
  guard?: TransferGuard;
}

const MIN_RATE_BYTES_PER_MS = 1024; // 1 MiB/s floor when budgeting a body transfer

export class RegistryTransport {
  readonly baseUrl: string;
  private readonly connections: HttpConnections;
  private readonly auth: AuthSession;

  constructor(private readonly opts: TransportOptions) {
    this.connections = new HttpConnections({ plainHttpHosts: opts.plainHttpHosts, caFile: opts.caFile, limits: opts.limits });
    this.baseUrl = (this.connections.isPlain(opts.host) ? 'http://' : 'https://') + opts.host;
    this.auth = new AuthSession(
      { host: opts.host, repository: opts.repository, baseUrl: this.baseUrl, credentials: opts.credentials, timeoutMs: opts.timeoutMs },
      this.connections,
    );
  }

  /** token requests made, for tests that check caching */
  get tokenRequests(): number {
    return this.auth.tokenRequests;
  }

  url(path: string): string {
    return new URL(path, this.baseUrl).toString();
  }

  get idleTimeoutMs(): number {
    return this.opts.idleTimeoutMs;
  }

  /** A deadline and rate guard for one request (send() makes its own when given none). */
  guard(what: string): TransferGuard {
    return new TransferGuard(this.connections.limits, `${this.opts.host}: ${what}`);
  }

  budgetFor(bytes: number): number {
    return this.opts.timeoutMs + Math.ceil(bytes / MIN_RATE_BYTES_PER_MS);
  }

  /**
   * Send one request, authenticating and retrying as needed, all of it (and the body the caller
   * then reads or cancels) within one deadline and minimum rate (transfer-guard.ts).
   */
  async send(method: string, pathOrUrl: string, init: RequestInit2): Promise<Sent> {
    const url = pathOrUrl.startsWith('http') ? pathOrUrl : this.url(pathOrUrl);
    const guard = init.guard ?? this.guard(`${method} ${new URL(url).pathname}`);
    try {
      return guardedResponse(await this.attempts(method, url, init, guard), guard);
    } catch (e) {
      guard.finish();
      throw guard.failure ?? e;
    }
  }

  private async attempts(method: string, url: string, init: RequestInit2, guard: TransferGuard): Promise<Sent> {
    const target = new URL(url);
    if (target.protocol === 'http:' && !this.connections.isPlain(target.host)) {
      throw new RegistryError(
        'PLAIN_HTTP_REFUSED',
        `refusing plain HTTP to ${target.host}: name it as a plain-HTTP registry (--plain-http) if it really serves no TLS`,
      );
    }
    await this.auth.authenticateAhead(init.actions, init.body !== undefined);
    let authTried = false;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...(init.headers ?? {}) };
      const authorization = this.auth.preemptiveAuth(init.actions);
      if (authorization) headers.authorization = authorization;
      let sent: Sent;
      try {
        const timeoutMs = init.timeoutMs ?? this.budgetFor(init.body?.length ?? 0);
        sent = await this.connections.fetchOnce(method, url, headers, init.body, timeoutMs, guard);
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
        await this.auth.authenticate(res.headers.get('www-authenticate'), init.actions, true);
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

  /**
   * A short-lived token for pulling this one repository (scope `repository:<name>:pull`) from
   * the registry's token service, exchanged with these credentials; undefined when the
   * registry does not use bearer tokens (basic auth or none) or the credentials already are a
   * registry token. Rejects with AUTH_FAILED when the token service refuses. Used to hand a
   * node the narrowest credential (controller/instance-pull-creds.ts).
   */
  repositoryPullToken(): Promise<{ token: string; expiresInSeconds: number } | undefined> {
    return this.auth.repositoryPullToken();
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
    guard: TransferGuard,
    onProgress?: (received: number, total: number) => void,
    ranges?: RangeRequest,
  ): Promise<Exclude<BlobDownloadResult, { kind: 'redirect' } | { kind: 'unhandled' }> | undefined> {
    let target = new URL(this.url(path));
    try {
      await this.auth.authenticateAhead('pull', true);
    } catch {
      return undefined; // send() meets the same trouble, retries it and names it
    }
    const authorization = this.auth.preemptiveAuth('pull');
    const origin = target.origin;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      // send() names the refusal
      if (target.protocol !== 'https:' && !(target.protocol === 'http:' && this.connections.isPlain(target.host))) return undefined;
      const got = await downloadBlob({
        url: target,
        headers: authorization && target.origin === origin ? { authorization } : {},
        size,
        ca: this.connections.caPem(),
        headerTimeoutMs: this.opts.timeoutMs,
        idleTimeoutMs: this.opts.idleTimeoutMs,
        guard,
        onProgress,
        ranges,
      });
      if (got.kind === 'unhandled') return undefined;
      if (got.kind !== 'redirect') return got;
      target = got.location;
    }
    return undefined;
  }
}
