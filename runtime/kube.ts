/**
 * Talking to a Kubernetes API server: loading a KubeConfig (a kubeconfig file, or the
 * in-cluster service account when no file is given) and one small JSON client over it.
 *
 * Why not the generated client-node APIs for everything: they create a new TLS agent per
 * request (no keep-alive), cannot send merge-patch to custom resources without ceremony, and
 * their watch gives no handle on a stalled stream. `KubeClient` takes the credentials
 * client-node resolves (CA, client cert, bearer token, exec/auth providers) and sends plain
 * JSON over a keep-alive agent. Errors become `KubeApiError` carrying the API's `Status`
 * (`code`, `reason`), so callers branch on 404/409/410 without parsing messages.
 *
 * Usage:
 *   const kc = loadKubeConfig({ kubeconfigPath });
 *   const kube = new KubeClient(kc);
 *   const lease = await kube.get(resourcePath({ group: 'coordination.k8s.io', version: 'v1',
 *     plural: 'leases', namespace: 'gantry-system', name: 'x' }));
 */
import { readFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { UsageError } from './errors.js';

export { KubeConfig };

export interface LoadKubeConfigOptions {
  /** A kubeconfig file. When absent: the in-cluster service account if running in a pod, else $KUBECONFIG / ~/.kube/config. */
  kubeconfigPath?: string;
  /** A kubeconfig document given inline (takes precedence over the path). */
  kubeconfigYaml?: string;
  /** Context to use instead of the file's current-context. */
  context?: string;
}

/** Loads a KubeConfig from a file, inline YAML, or the in-cluster service account. */
export function loadKubeConfig(opts: LoadKubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfigYaml) {
    kc.loadFromString(opts.kubeconfigYaml);
  } else if (opts.kubeconfigPath) {
    if (!existsSync(opts.kubeconfigPath)) {
      throw new UsageError('KUBECONFIG_NOT_FOUND', `kubeconfig ${opts.kubeconfigPath} does not exist`);
    }
    try {
      kc.loadFromString(readFileSync(opts.kubeconfigPath, 'utf8'));
    } catch (err) {
      throw new UsageError('KUBECONFIG_INVALID', `kubeconfig ${opts.kubeconfigPath} is not valid: ${(err as Error).message}`);
    }
  } else if (process.env.KUBERNETES_SERVICE_HOST && existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token')) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (opts.context) kc.setCurrentContext(opts.context);
  if (!kc.getCurrentCluster()) {
    throw new UsageError('KUBECONFIG_INVALID', 'kubeconfig has no current cluster; pass --kubeconfig FILE');
  }
  return kc;
}

/** The namespace of the kubeconfig's current context, or undefined. */
export function currentNamespace(kc: KubeConfig): string | undefined {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || undefined;
}

/** An API error: the server's `Status` (or a transport failure, code 0). */
export class KubeApiError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly reason: string,
    readonly status?: unknown,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409;
}
export function isAlreadyExists(err: unknown): boolean {
  return err instanceof KubeApiError && err.code === 409 && err.reason === 'AlreadyExists';
}

export interface ResourceRef {
  /** '' or absent for the core group (`/api/v1`). */
  group?: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
  subresource?: 'status' | 'scale' | string;
}

/** `/api/v1/namespaces/ns/pods/x/status` and friends. */
export function resourcePath(r: ResourceRef): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespace) p += `/namespaces/${encodeURIComponent(r.namespace)}`;
  p += `/${r.plural}`;
  if (r.name) p += `/${encodeURIComponent(r.name)}`;
  if (r.subresource) p += `/${r.subresource}`;
  return p;
}

/** The fields of a coordination.k8s.io/v1 Lease that Gantry reads and writes (agent heartbeats, leader election). */
export interface LeaseObject {
  metadata: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  };
  spec?: { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseDurationSeconds?: number; leaseTransitions?: number };
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  /** Per-request deadline (default 30 s; watches have none). */
  timeoutMs?: number;
}

export interface WatchEvent<T = any> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface KubeList<T = any> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

interface Credentials {
  headers: Record<string, string>;
  agent: http.Agent;
  at: number;
}

const credentialTtlMs = 60_000;

/** A JSON client for one cluster, sharing one keep-alive connection pool. */
export class KubeClient {
  private readonly server: URL;
  private creds?: Credentials;
  private credsPending?: Promise<Credentials>;
  private closed = false;

  constructor(
    readonly kubeConfig: KubeConfig,
    private readonly opts: { maxSockets?: number } = {},
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
  }

  /** Credentials are refreshed every minute so exec/token-file auth keeps working. */
  private async credentials(): Promise<Credentials> {
    if (this.creds && Date.now() - this.creds.at < credentialTtlMs) return this.creds;
    if (this.credsPending) return this.credsPending;
    this.credsPending = (async () => {
      const o: any = {};
      await this.kubeConfig.applyToHTTPSOptions(o);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(o.headers ?? {})) headers[k] = String(v);
      if (o.auth) headers['Authorization'] = 'Basic ' + Buffer.from(o.auth).toString('base64');
      const previous = this.creds?.agent;
      // a new Buffer comes back on every call: compare contents, or every refresh would
      // replace the agent and cut open watches
      const same = (a: unknown, b: unknown) => (Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : a === b);
      const tlsSame =
        previous && same((previous as any).__ca, o.ca) && same((previous as any).__cert, o.cert) && same((previous as any).__key, o.key);
      let agent: http.Agent;
      if (tlsSame) agent = previous!;
      else if (this.server.protocol === 'https:') {
        agent = new https.Agent({
          keepAlive: true,
          maxSockets: this.opts.maxSockets ?? 128,
          ca: o.ca,
          cert: o.cert,
          key: o.key,
          servername: o.servername,
          rejectUnauthorized: o.rejectUnauthorized,
        });
      } else {
        agent = new http.Agent({ keepAlive: true, maxSockets: this.opts.maxSockets ?? 128 });
      }
      (agent as any).__ca = o.ca;
      (agent as any).__cert = o.cert;
      (agent as any).__key = o.key;
      // requests already on the old agent (watches included) finish on it; idle sockets go
      if (previous && previous !== agent) setTimeout(() => previous.destroy(), 600_000).unref();
      const c = { headers, agent, at: Date.now() };
      this.creds = c;
      return c;
    })().finally(() => (this.credsPending = undefined));
    return this.credsPending;
  }

  private url(path: string, query?: RequestOptions['query']): URL {
    const base = this.server.pathname.replace(/\/$/, '');
    const u = new URL(this.server.origin + base + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    return u;
  }

  private async open(method: string, path: string, opts: RequestOptions, accept = 'application/json'): Promise<http.IncomingMessage> {
    if (this.closed) throw new KubeApiError('client is closed', 0, 'ClientClosed');
    const { headers, agent } = await this.credentials();
    const u = this.url(path, opts.query);
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const mod = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        u,
        {
          method,
          agent,
          headers: {
            ...headers,
            Accept: accept,
            ...(body ? { 'Content-Type': opts.contentType ?? 'application/json', 'Content-Length': body.length } : {}),
          },
          signal: opts.signal,
        },
        resolve,
      );
      req.on('error', (err) => reject(new KubeApiError(`${method} ${path}: ${err.message}`, 0, 'TransportError')));
      if (opts.timeoutMs !== 0) {
        req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error('request timed out')));
      }
      req.end(body);
    });
  }

  /** One JSON request; a non-2xx reply throws KubeApiError carrying the API Status. */
  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.open(method, path, opts);
    const chunks: Buffer[] = [];
    try {
      for await (const c of res) chunks.push(c as Buffer);
    } catch (err) {
      throw new KubeApiError(`${method} ${path}: ${(err as Error).message}`, 0, 'TransportError');
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    const code = res.statusCode ?? 0;
    if (code < 200 || code >= 300) {
      const message = parsed?.message ?? (text.slice(0, 200) || `HTTP ${code}`);
      throw new KubeApiError(`${method} ${path}: ${message}`, code, parsed?.reason ?? `HTTP${code}`, parsed);
    }
    return parsed as T;
  }

  get<T = any>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, opts);
  }
  list<T = any>(path: string, query?: RequestOptions['query'], opts: RequestOptions = {}): Promise<KubeList<T>> {
    return this.request<KubeList<T>>('GET', path, { ...opts, query: { ...opts.query, ...query } });
  }
  create<T = any>(path: string, obj: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body: obj });
  }
  replace<T = any>(path: string, obj: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('PUT', path, { ...opts, body: obj });
  }
  /** RFC 7386 merge patch: the one patch type custom resources accept everywhere. */
  mergePatch<T = any>(path: string, patch: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body: patch, contentType: 'application/merge-patch+json' });
  }
  delete<T = any>(
    path: string,
    opts: RequestOptions & {
      propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
      preconditions?: { uid?: string; resourceVersion?: string };
    } = {},
  ): Promise<T> {
    const body =
      opts.propagationPolicy || opts.preconditions
        ? { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: opts.propagationPolicy, preconditions: opts.preconditions }
        : undefined;
    return this.request<T>('DELETE', path, { ...opts, body });
  }

  /**
   * One watch request. Calls onEvent per line; resolves when the server closes the stream,
   * rejects on a non-200 reply or a transport error. Abort with `signal`.
   */
  async watch<T = any>(
    path: string,
    query: RequestOptions['query'],
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    const res = await this.open('GET', path, { query: { ...query, watch: 'true' }, signal, timeoutMs: 0 });
    const code = res.statusCode ?? 0;
    if (code !== 200) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      let parsed: any;
      try {
        parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {}
      throw new KubeApiError(`WATCH ${path}: ${parsed?.message ?? `HTTP ${code}`}`, code, parsed?.reason ?? `HTTP${code}`, parsed);
    }
    let rest = '';
    try {
      for await (const chunk of res) {
        rest += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl).trim();
          rest = rest.slice(nl + 1);
          if (!line) continue;
          let e: WatchEvent<T>;
          try {
            e = JSON.parse(line);
          } catch {
            continue;
          }
          onEvent(e);
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      if (err instanceof KubeApiError) throw err;
      throw new KubeApiError(`WATCH ${path}: ${(err as Error).message}`, 0, 'TransportError');
    }
  }

  /** Closes pooled connections; further requests fail. */
  close(): void {
    this.closed = true;
    this.creds?.agent.destroy();
  }
}
