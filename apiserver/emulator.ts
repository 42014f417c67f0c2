/**
 * The emulator itself: a state directory (token, TLS material, the persisted store), the
 * store and the resources it serves, the controllers (garbage collection, namespace and CRD
 * cleanup) and the HTTPS server, wired together and started. Loaded only through index.ts,
 * because it brings in the emulator's optional dependencies.
 *
 * Layers: server.ts (HTTP) → handlers.ts (API semantics) → store.ts (objects, RV, history).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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
import type { ApiServer, ApiServerOptions } from './index.js';

const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** The state directory (a temporary one when none is given), made private, with the token kept in it. */
function prepareStateDir(opts: ApiServerOptions): { dir: string; temp: boolean; token: string } {
  const temp = !opts.stateDir;
  const dir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'gantry-apiserver-'));
  securePrivateDir(dir);
  const tokenFile = join(dir, 'token');
  const token = opts.token ?? (existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : randomBytes(24).toString('hex'));
  writeFileSync(tokenFile, token, { mode: 0o600 });
  return { dir, temp, token };
}

/**
 * The store as the state directory left it, the resources it serves (built-ins and its CRDs,
 * kept in step with every CRD write) and, for a state directory that outlives the server, the
 * journal that persists every commit.
 */
function openStore(dir: string, temp: boolean, watchHistory: number | undefined) {
  const store = new MemoryStore(loadState(dir), watchHistory);
  const registry = new ResourceRegistry();
  for (const crd of store.list(CRD_RESOURCE)) registry.upsertCrd(crd);
  // CRDs become served resources the moment they are stored, and stop being served once gone
  // (the cleanup controller in gc.ts has deleted their instances by then).
  store.onCommit((ev) => {
    if (ev.resource !== CRD_RESOURCE) return;
    if (ev.type === 'DELETED') registry.removeCrd(ev.object.metadata.name!);
    else registry.upsertCrd(ev.object);
  });
  let persister: Persister | undefined;
  if (!temp) {
    const journal = new Persister(dir, store);
    journal.compact();
    store.onCommit((ev) => journal.record(ev));
    persister = journal;
  }
  return { store, registry, persister };
}

/** The namespaces every cluster has, created when the store lacks them. */
function seedSystemNamespaces(store: MemoryStore): void {
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
}

function listen(http: ApiHttpServer, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    http.server.once('error', reject);
    http.server.listen(port, host, () => {
      http.server.off('error', reject);
      resolve((http.server.address() as AddressInfo).port);
    });
  });
}

export async function startEmulator(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const host = opts.host ?? '127.0.0.1';
  const { dir, temp, token } = prepareStateDir(opts);
  const tls = await ensureTls(dir, host);
  const { store, registry, persister } = openStore(dir, temp, opts.watchHistory);
  const handlers = new ResourceHandlers(store);
  seedSystemNamespaces(store);

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
  const port = await listen(http, opts.port ?? 0, host);
  const urlHost = host.includes(':') ? `[${host}]` : host;
  address = `${urlHost}:${port}`;
  const url = `https://${address}`;
  const yaml = kubeconfigYaml(url, tls.caPem, token);
  const kubeconfigPath = join(dir, 'kubeconfig');
  // write-then-rename: the sandbox takes the file's existence as "ready" and reads it at once, so
  // a plain write let it read an empty kubeconfig (seen under load in the Ctrl-C fuzz test)
  const tmp = `${kubeconfigPath}.${process.pid}.tmp`;
  writeFileSync(tmp, yaml, { mode: 0o600 });
  renameSync(tmp, kubeconfigPath);

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
