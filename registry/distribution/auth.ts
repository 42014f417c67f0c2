/**
 * Registry authentication: anonymous, HTTP basic, and the bearer-token challenge flow of the
 * distribution spec. A 401 carries `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; we
 * fetch a token from the realm (with basic credentials when we have them) and cache it per
 * scope until shortly before it expires, so a push of many requests asks once.
 * Credentials come from a docker `config.json` or a Kubernetes dockerconfigjson Secret.
 */
import { RegistryError } from '../errors.js';

export interface RegistryCredentials {
  username?: string;
  password?: string;
  /** docker's `identitytoken`: an OAuth2 refresh token exchanged at the token realm (POST) */
  identityToken?: string;
  /** a registry token used as-is (`registrytoken` in docker config) */
  registryToken?: string;
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parse one WWW-Authenticate header value (a single challenge, as registries send). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g;
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  return { scheme, params };
}

/**
 * Credentials for `host` from a docker config (`{"auths":{HOST:{auth|username/password|…}}}`),
 * either the file's JSON text, its parsed object, or a dockerconfigjson Secret's decoded data.
 * Keys may be bare hosts or URLs (`https://host/v1/`); `index.docker.io` aliases are honoured.
 */
export function credentialsFromDockerConfig(json: string | object, host: string): RegistryCredentials | undefined {
  let config: unknown = json;
  if (typeof json === 'string') {
    try {
      config = JSON.parse(json);
    } catch (e) {
      throw new RegistryError('AUTH_FAILED', `docker config is not valid JSON: ${(e as Error).message}`);
    }
  }
  const auths = (config as { auths?: Record<string, unknown> } | null)?.auths;
  if (!auths || typeof auths !== 'object') return undefined;
  const wanted = normalizeHost(host);
  for (const [key, raw] of Object.entries(auths)) {
    if (normalizeHost(key) !== wanted) continue;
    const entry = (raw ?? {}) as Record<string, unknown>;
    const out: RegistryCredentials = {};
    if (typeof entry.auth === 'string' && entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new RegistryError('AUTH_FAILED', `docker config entry for ${key}: "auth" does not decode to user:password`);
      out.username = decoded.slice(0, colon);
      out.password = decoded.slice(colon + 1);
    }
    if (typeof entry.username === 'string') out.username = entry.username;
    if (typeof entry.password === 'string') out.password = entry.password;
    if (typeof entry.identitytoken === 'string' && entry.identitytoken) out.identityToken = entry.identitytoken;
    if (typeof entry.registrytoken === 'string' && entry.registrytoken) out.registryToken = entry.registrytoken;
    return out;
  }
  return undefined;
}

function normalizeHost(h: string): string {
  let s = h
    .trim()
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '');
  s = s.split('/')[0];
  if (s === 'docker.io' || s === 'registry-1.docker.io' || s === 'index.docker.io') return 'index.docker.io';
  return s;
}

export function basicHeader(c: RegistryCredentials): string | undefined {
  if (c.username === undefined || c.password === undefined) return undefined;
  return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

/** Cached bearer tokens, keyed by scope; a token is dropped 10 s before it expires. */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();

  get(scope: string): string | undefined {
    const t = this.tokens.get(scope);
    if (!t) return undefined;
    if (Date.now() >= t.expiresAt) {
      this.tokens.delete(scope);
      return undefined;
    }
    return t.token;
  }

  set(scope: string, token: string, expiresInSeconds: number): void {
    const ttl = Math.max(1, expiresInSeconds - 10);
    this.tokens.set(scope, { token, expiresAt: Date.now() + ttl * 1000 });
  }

  drop(scope: string): void {
    this.tokens.delete(scope);
  }
}
