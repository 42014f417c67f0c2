/**
 * A Kubernetes API server emulator that real kubectl (1.27–1.33) and @kubernetes/client-node
 * accept, for tests and the local sandbox: HTTPS with a generated CA, bearer auth, one global
 * resourceVersion, list/watch, the write verbs with their preconditions, CRDs at runtime,
 * server-side apply, garbage collection and persistence to a state directory.
 *
 *   const api = await startApiServer({ stateDir });   // port 0 = a free port
 *   // api.kubeconfigPath / api.kubeconfigYaml → KubeConfig.loadFromFile / kubectl --kubeconfig
 *   await api.stop();
 *
 * Layers: server.ts (HTTP) → handlers.ts (API semantics) → store.ts (objects, RV, history).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Controllers } from './gc.js';
import { ResourceHandlers } from './handlers.js';
import { kubeconfigYaml } from './kubeconfig.js';
import { OpenApiDocs } from './openapi.js';
import { loadState, Persister } from './persistence.js';
import { CRD_RESOURCE, ResourceRegistry } from './registry.js';
import { ApiHttpServer } from './server.js';
import { securePrivateDir } from './statedir.js';
import { MemoryStore } from './store.js';
import { ensureTls } from './tls.js';
import { kubeTime } from '../runtime/toolkit/time.js';
import { randomUUID } from 'node:crypto';

export interface ApiServerOptions {
  /** 0 (default) = a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Persistence, TLS material and kubeconfig; a temporary directory when absent. Made 0700
   *  with 0600 files (looser modes are tightened; another user's directory is refused). */
  stateDir?: string;
  /** Bearer token; generated (and kept in the state dir) when absent. */
  token?: string;
  /** Watch events kept for resumption (default 50,000); older RVs get 410 Expired. */
  watchHistory?: number;
  /** Like kube-apiserver --min-request-timeout: watches without timeoutSeconds end after
   *  this to twice this many seconds (default 1800). Tests lower it to exercise re-watches. */
  watchTimeoutSeconds?: number;
}

export interface ApiServer {
  url: string;
  port: number;
  kubeconfigPath: string;
  kubeconfigYaml: string;
  caPem: string;
  token: string;
  stop(): Promise<void>;
}

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const temp = !opts.stateDir;
  const dir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'gantry-apiserver-'));
  securePrivateDir(dir);
  const tokenFile = join(dir, 'token');
  const token = opts.token ?? (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : randomBytes(24).toString('hex'));
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const tls = await ensureTls(dir, host);

  const seed = loadState(dir);
  const store = new MemoryStore(seed, opts.watchHistory);
  const registry = new ResourceRegistry();
  for (const crd of store.list(CRD_RESOURCE)) registry.upsertCrd(crd);
  const handlers = new ResourceHandlers(store);

  // CRDs become served resources the moment they are stored, and stop being served once gone
  // (the cleanup controller in gc.ts has deleted their instances by then).
  store.onCommit((ev) => {
    if (ev.resource !== CRD_RESOURCE) return;
    if (ev.type === 'DELETED') registry.removeCrd(ev.object.metadata.name!);
    else registry.upsertCrd(ev.object);
  });

  let persister: Persister | undefined;
  if (!temp) {
    persister = new Persister(dir, store);
    persister.compact();
    store.onCommit((ev) => persister!.record(ev));
  }

  for (const name of SYSTEM_NAMESPACES) {
    if (store.get('namespaces', '', name)) continue;
    store.create(
      'namespaces',
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name, uid: randomUUID(), creationTimestamp: kubeTime(), labels: { 'kubernetes.io/metadata.name': name } },
        spec: { finalizers: ['kubernetes'] },
        status: { phase: 'Active' },
      },
      'namespaces',
      '',
    );
  }

  const controllers = new Controllers(store, registry, handlers);
  let address = '';
  const http = new ApiHttpServer({
    store,
    registry,
    handlers,
    openapi: new OpenApiDocs(registry),
    token,
    tls,
    address: () => address,
    watchTimeoutSeconds: opts.watchTimeoutSeconds,
  });
  await new Promise<void>((resolve, reject) => {
    http.server.once('error', reject);
    http.server.listen(opts.port ?? 0, host, () => {
      http.server.off('error', reject);
      resolve();
    });
  });
  const port = (http.server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  address = `${urlHost}:${port}`;
  const url = `https://${address}`;
  const yaml = kubeconfigYaml(url, tls.caPem, token);
  const kubeconfigPath = join(dir, 'kubeconfig');
  writeFileSync(kubeconfigPath, yaml, { mode: 0o600 });

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    kubeconfigPath,
    kubeconfigYaml: yaml,
    caPem: tls.caPem,
    token,
    stop() {
      stopping ??= (async () => {
        controllers.stop();
        http.closeWatches();
        await new Promise<void>((resolve) => {
          http.server.close(() => resolve());
          http.server.closeAllConnections();
        });
        await persister?.stop();
        if (temp) rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
