/**
 * The Kubernetes API emulator, as the rest of Gantry uses it: a server that real kubectl
 * (1.27–1.33) and @kubernetes/client-node accept, for tests and the local sandbox — HTTPS with
 * a generated CA, bearer auth, one global resourceVersion, list/watch, the write verbs with
 * their preconditions, CRDs at runtime, server-side apply, garbage collection and persistence
 * to a state directory (docs/apiserver.md).
 *
 *   const api = await startApiServer({ stateDir });   // port 0 = a free port
 *   // api.kubeconfigPath / api.kubeconfigYaml → KubeConfig.loadFromFile / kubectl --kubeconfig
 *   await api.stop();
 *
 * This file loads nothing of the server itself: startApiServer imports it (emulator.ts) when
 * called, so importing the entry costs no optional dependency, and a missing one is reported
 * as APISERVER_DEPENDENCY_MISSING (dependencies.ts). The kubeconfig writer and the TLS
 * material are shared with the real control plane (sandbox/controlplane).
 */
import { emulatorDependencyError } from './dependencies.js';

export { EMULATOR_PACKAGES, emulatorDependencyError } from './dependencies.js';
export { kubeconfigYaml } from './kubeconfig.js';
export { ensureTls, type TlsMaterial } from './tls.js';

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

/** Start an emulator; fails with APISERVER_DEPENDENCY_MISSING when its packages are not installed. */
export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  let emulator: typeof import('./emulator.js');
  try {
    emulator = await import('./emulator.js');
  } catch (e) {
    throw emulatorDependencyError(e) ?? e;
  }
  return emulator.startEmulator(opts);
}
