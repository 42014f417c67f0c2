/**
 * The auth dance of one registry transport (auth.ts has its parts): the scheme a registry asks
 * for, learnt from a 401 or ahead of a request with a body by a ping so the body is sent once;
 * HTTP basic; bearer tokens fetched once per scope at a time from the token realm (HTTPS, or
 * plain HTTP only where named) and cached until shortly before they expire.
 */
import { RegistryError } from '../errors.js';
import { basicHeader, parseChallenge, TokenCache, type RegistryCredentials } from './auth.js';
import type { HttpConnections } from './connections.js';
import { discard } from './responses.js';

export type Actions = 'pull' | 'pull,push';

export interface AuthSessionOptions {
  host: string;
  repository: string;
  /** where the registry answers (`https://HOST` or, where named, `http://HOST`) */
  baseUrl: string;
  credentials?: RegistryCredentials;
  timeoutMs: number;
}

export class AuthSession {
  private scheme: 'none' | 'basic' | 'bearer' | undefined;
  private bearerParams: Record<string, string> = {};
  private readonly tokens = new TokenCache();
  private readonly tokenFetches = new Map<string, Promise<void>>();
  /** expires_in of the last token the token service issued */
  private lastExpiresIn = 60;
  /** token requests made, for tests that check caching */
  tokenRequests = 0;

  constructor(
    private readonly opts: AuthSessionOptions,
    private readonly connections: HttpConnections,
  ) {}

  /** GET /v2/ to learn the auth scheme before sending a body (so it is sent once). */
  async ping(): Promise<void> {
    const sent = await this.connections.fetchOnce('GET', new URL('/v2/', this.opts.baseUrl).toString(), {}, undefined, this.opts.timeoutMs);
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

  /**
   * Credentials ready before a request rather than a 401 after it (which would send a body
   * twice): the scheme learnt by a ping when `ping` and still unknown, the scope's token fetched
   * once bearer auth is known.
   */
  async authenticateAhead(actions: Actions, ping: boolean): Promise<void> {
    if (this.scheme === undefined && ping) await this.ping();
    if (this.scheme === 'bearer' && !this.tokens.get(this.scopeFor(actions))) await this.fetchToken(actions);
  }

  preemptiveAuth(actions: string): string | undefined {
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

  async authenticate(header: string | null, actions: Actions, fetchToken: boolean): Promise<void> {
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
  private fetchToken(actions: Actions): Promise<void> {
    const scope = this.scopeFor(actions);
    let running = this.tokenFetches.get(scope);
    if (!running) {
      running = this.requestToken(actions).finally(() => this.tokenFetches.delete(scope));
      this.tokenFetches.set(scope, running);
    }
    return running;
  }

  private async requestToken(actions: Actions): Promise<void> {
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
    if (realmUrl.protocol !== 'https:' && !(realmUrl.protocol === 'http:' && this.connections.isPlain(realmUrl.host))) {
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
      ({ res } = await this.connections.fetchOnce(
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
      ({ res } = await this.connections.fetchOnce('GET', realmUrl.toString(), headers, undefined, this.opts.timeoutMs));
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
}
