/**
 * The Kubernetes API server for tests of any area, on one of two grounds chosen by
 * `GANTRY_TEST_APISERVER` (vitest.config.ts sets it per project):
 *
 * - `emulated` (default): the API emulator, in-process on a free loopback port.
 * - `real`: etcd + kube-apiserver built by scripts/control-plane.sh, as processes on loopback,
 *   with TLS and RBAC on; deploy/base's namespace, ServiceAccounts and RBAC are applied, so
 *   `identity('controller' | 'agent')` hands out the ServiceAccount tokens those bindings grant.
 *
 * Either way `kc` / `kubeconfigPath` are a cluster admin (the test playing kubectl user,
 * kubelet or agent), and the controller and agents under test run as `identity(...)`: on the
 * emulator that is the admin (it has no RBAC); on the real server a missing verb in deploy/
 * makes them fail.
 *
 *   const api = await startTestApiServer();
 *   const ctl = await startController({ kubeConfig: (await api.identity('controller')).kc, ... });
 *   afterAll(() => api.stop());
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { startApiServer, type ApiServer, type ApiServerOptions } from '../../apiserver/index.js';
import {
  controlPlaneAvailable,
  controlPlaneBinary,
  startControlPlane,
  type ControlPlane,
  type ControlPlaneOptions,
} from '../../sandbox/controlplane/index.js';

export type ApiGround = 'emulated' | 'real';
export type Component = 'controller' | 'agent';

/** deploy/base's ServiceAccount for each component (namespace gantry-system). */
export const SERVICE_ACCOUNTS: Record<Component, string> = { controller: 'gantry-controller', agent: 'gantry-agent' };
export const GANTRY_NAMESPACE = 'gantry-system';

export interface Identity {
  kc: KubeConfig;
  kubeconfigPath: string;
  kubeconfigYaml: string;
}

export interface TestApiServer extends ApiServer {
  kc: KubeConfig;
  ground: ApiGround;
  /** The real control plane's handle (real ground only). */
  controlPlane?: ControlPlane;
  /** Who the controller / an agent runs as: deploy/base's ServiceAccount on the real ground, the admin on the emulator. */
  identity(component: Component): Promise<Identity>;
}

/** The ground this test process runs on (`GANTRY_TEST_APISERVER`, default emulated). */
export function apiGround(): ApiGround {
  const v = process.env.GANTRY_TEST_APISERVER ?? 'emulated';
  if (v !== 'emulated' && v !== 'real')
    throw new Error(`GANTRY_TEST_APISERVER=${v}: this test process needs emulated or real (both is for vitest.config.ts)`);
  return v;
}

export { controlPlaneAvailable };

/** kubectl of the real control plane's release (built beside it). */
export function realKubectl(): string {
  return controlPlaneBinary('kubectl');
}

const run = promisify(execFile);
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function kubeConfigFrom(yaml: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}

/** Files of deploy/base applied server-side by the release's own kubectl. */
async function applyDeployBase(kubeconfigPath: string, files: string[]): Promise<void> {
  const base = join(repoRoot, 'deploy', 'base');
  await run(
    realKubectl(),
    [
      '--kubeconfig',
      kubeconfigPath,
      'apply',
      '--server-side',
      '--field-manager=gantry-tests',
      ...files.flatMap((f) => ['-f', join(base, f)]),
    ],
    { timeout: 60_000 },
  );
}

/** deploy/base's namespace, ServiceAccounts and RBAC, applied by the release's own kubectl. */
export async function applyDeployRbac(kubeconfigPath: string): Promise<void> {
  await applyDeployBase(kubeconfigPath, ['namespace.yaml', 'rbac-controller.yaml', 'rbac-agent.yaml']);
}

/** deploy/base's admission policy that keeps a node-bound agent to its own node's objects (real ground). */
export async function applyAgentAdmission(api: TestApiServer): Promise<void> {
  await applyDeployBase(api.kubeconfigPath, ['admission-agent.yaml']);
}

/** The gantry-agent of Node `node` (which must exist): a token bound to that Node, as a deployed agent holds (real ground). */
export async function nodeBoundAgent(api: TestApiServer, node: string): Promise<Identity> {
  if (!api.controlPlane) throw new Error('nodeBoundAgent: node-bound tokens need the real API server');
  const sa = await api.controlPlane.serviceAccountKubeconfig(GANTRY_NAMESPACE, SERVICE_ACCOUNTS.agent, { boundNode: node });
  return { kc: kubeConfigFrom(sa.yaml), kubeconfigPath: sa.path, kubeconfigYaml: sa.yaml };
}

export interface StartTestApiServerOptions extends ApiServerOptions {
  /** Ground override (default: apiGround()). */
  ground?: ApiGround;
  /** Real ground: skip applying deploy/base's RBAC (a test that brings its own). */
  noDeployRbac?: boolean;
  controlPlane?: ControlPlaneOptions;
}

export async function startTestApiServer(opts: StartTestApiServerOptions = {}): Promise<TestApiServer> {
  const ground = opts.ground ?? apiGround();
  if (ground === 'emulated') {
    const api = await startApiServer({ port: 0, ...opts });
    const kc = kubeConfigFrom(api.kubeconfigYaml);
    const admin: Identity = { kc, kubeconfigPath: api.kubeconfigPath, kubeconfigYaml: api.kubeconfigYaml };
    return Object.assign(api, { kc, ground, identity: async () => admin });
  }
  const cp = await startControlPlane(opts.controlPlane);
  try {
    if (!opts.noDeployRbac) await applyDeployRbac(cp.kubeconfigPath);
  } catch (err) {
    await cp.stop();
    throw err;
  }
  const identities = new Map<Component, Promise<Identity>>();
  return {
    url: cp.url,
    port: cp.port,
    kubeconfigPath: cp.kubeconfigPath,
    kubeconfigYaml: cp.kubeconfigYaml,
    caPem: cp.caPem,
    token: cp.token,
    kc: kubeConfigFrom(cp.kubeconfigYaml),
    ground,
    controlPlane: cp,
    identity(component) {
      let id = identities.get(component);
      if (!id) {
        id = cp
          .serviceAccountKubeconfig(GANTRY_NAMESPACE, SERVICE_ACCOUNTS[component])
          .then((sa) => ({ kc: kubeConfigFrom(sa.yaml), kubeconfigPath: sa.path, kubeconfigYaml: sa.yaml }));
        identities.set(component, id);
      }
      return id;
    },
    stop: () => cp.stop(),
  };
}
