/**
 * Step 1, the ground: the API server and the kubeconfig everyone uses, then what the cluster
 * needs before any Gantry part starts (the gantry-system namespace, the CRDs, one Node per
 * sandbox node). The API server is the emulator, its own process like the other parts (its log
 * goes to a file and it keeps answering while the launcher is busy), or with --apiserver real
 * a kube-apiserver over etcd, where the controller and the agents get deploy/base's
 * ServiceAccount tokens instead of the admin's (each agent's bound to its Node).
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { hostTarget } from '../../../agent/target.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../../../runtime/kube.js';
import { gantryBin, packageRoot } from '../../../runtime/paths.js';
import { controlPlaneVersions } from '../../controlplane/index.js';
import { applyCrds, CREDENTIALS_NAMESPACE, ensureNamespace, GANTRY_NAMESPACE, registerNodes } from '../cluster-objects.js';
import { SandboxError } from '../errors.js';
import type { Launch } from '../launch.js';
import { startRealApiserver } from '../real-apiserver.js';
import { writeAtomic } from '../state-dir.js';

/** The kubeconfigs the controller and the agents run with (the admin's, or their ServiceAccounts'). */
export interface Identities {
  controllerKubeconfig: string;
  /** The agent of `node`'s (on the real ground a token bound to its Node, which seedCluster made). */
  agentKubeconfig(node: string): Promise<string>;
}

/** Starts the API server, sets `l.apiUrl` and `l.kube`, and seeds the cluster. */
export async function prepareGround(l: Launch, apiserverPort: number): Promise<Identities> {
  const realApi = l.st.apiserver === 'real';
  const identities = realApi ? await startReal(l, apiserverPort) : await startEmulator(l, apiserverPort);
  const versions = realApi ? `kube-apiserver ${controlPlaneVersions().k8s} + etcd ${controlPlaneVersions().etcd}` : '(emulator)';
  l.say(`  API server     ${l.apiUrl}  ${versions}  (kubeconfig ${l.sd.kubeconfig})`);
  if (realApi)
    l.say(
      `  identities     controller and agents run as deploy/base's ServiceAccounts gantry-system/gantry-controller and gantry-agent (each agent's token bound to its Node; admission policy on)`,
    );
  l.kube = new KubeClient(loadKubeConfig({ kubeconfigPath: l.sd.kubeconfig }));
  await seedCluster(l, l.kube);
  return identities;
}

async function startReal(l: Launch, apiserverPort: number): Promise<Identities> {
  l.sd.writeState(l.st);
  const real = await startRealApiserver({
    sd: l.sd,
    apiserverPort,
    etcdPort: l.st.etcdPort!,
    etcdPeerPort: l.st.etcdPeerPort!,
    env: l.env,
    onUnexpectedExit: l.unexpected,
    group: l.group,
    packageRoot: packageRoot(),
  });
  l.checkInterrupted();
  l.apiUrl = real.url;
  return { controllerKubeconfig: real.controllerKubeconfig, agentKubeconfig: real.agentKubeconfig };
}

async function startEmulator(l: Launch, apiserverPort: number): Promise<Identities> {
  const apiKubeconfig = join(l.sd.apiserverDir, 'kubeconfig');
  rmSync(apiKubeconfig, { force: true }); // written afresh once it listens: that is "ready"
  const apiserver = l.child({
    name: 'apiserver',
    command: process.execPath,
    args: [gantryBin(), 'sandbox', 'apiserver', '--port', String(apiserverPort), '--host', '127.0.0.1', '--state-dir', l.sd.apiserverDir],
    logFile: l.sd.log('apiserver'),
    port: apiserverPort,
    ready: async () => existsSync(apiKubeconfig),
    startTimeoutMs: 30_000,
  });
  await apiserver.start();
  l.checkInterrupted();
  l.apiUrl = `https://127.0.0.1:${apiserverPort}`;
  writeAtomic(l.sd.kubeconfig, readFileSync(apiKubeconfig, 'utf8'), 0o600);
  return { controllerKubeconfig: l.sd.kubeconfig, agentKubeconfig: async () => l.sd.kubeconfig };
}

/** The namespace, the CRDs (once served) and the Nodes. */
async function seedCluster(l: Launch, kube: KubeClient): Promise<void> {
  await ensureNamespace(kube, GANTRY_NAMESPACE);
  await ensureNamespace(kube, CREDENTIALS_NAMESPACE);
  const crds = await applyCrds(kube, join(packageRoot(), 'crds'));
  // a real server serves a new CRD a moment after storing it; the controller checks at start
  await crdsServed(kube, () => l.checkInterrupted());
  await registerNodes(kube, l.st.nodes);
  l.say(`  CRDs           ${crds.join(', ')}`);
  const host = hostTarget();
  for (const n of l.st.nodes) {
    const foreign = n.foreign
      ? `  (foreign: its agent runs on this ${host} host and cannot load ${n.target} binaries; it shows placement only)`
      : '';
    l.say(`  node           ${n.name}  ${n.arch}/${n.os}${foreign}`);
  }
}

/** Resolves once both Gantry resources answer a list (a real server serves a CRD shortly after storing it). */
async function crdsServed(kube: KubeClient, checkInterrupted: () => void, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    checkInterrupted();
    try {
      for (const plural of ['providers', 'providerinstances'])
        await kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural }), { limit: 1 });
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new SandboxError(
          'SANDBOX_PROCESS_FAILED',
          `the Gantry CRDs were not served within ${timeoutMs} ms: ${(err as Error).message}`,
          'failure',
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
