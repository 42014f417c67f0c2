/**
 * A real Kubernetes control plane on loopback, envtest/kwok-style: etcd and kube-apiserver
 * (and, when asked, kube-scheduler) started as plain processes from the binaries that
 * scripts/control-plane.sh builds. No kubelet and, unless a test starts it with only the
 * controllers it needs (startControllerManager, e.g. the HPA's), no kube-controller-manager:
 * Nodes are plain objects, and Gantry's agents are the node side. `aggregator: true` adds the
 * aggregation layer (a front-proxy CA; APIServices proxied to extension API servers).
 *
 *   const cp = await startControlPlane();              // temp dir, free ports
 *   cp.kubeconfigPath                                  // cluster admin (system:masters)
 *   const sa = await cp.serviceAccountKubeconfig('gantry-system', 'gantry-agent');
 *   await cp.stop();                                   // processes gone, temp dir removed
 *
 * kube-apiserver runs with TLS (a CA made here, so the kubeconfig trusts exactly it), RBAC,
 * token-file auth for the admin and a service-account signing key, so ServiceAccount tokens
 * from the TokenRequest API authenticate as `system:serviceaccount:<ns>:<name>` and get
 * exactly what RoleBindings grant. Admission plugins that need controllers this setup does not
 * run are off: ServiceAccount (no token controller; Pods need no default SA) and
 * TaintNodesByCondition (no node lifecycle controller would ever lift the not-ready taint).
 * Namespaces therefore never finish deleting and owner references are not garbage-collected
 * (no kube-controller-manager); docs/apiserver.md lists what that changes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../runtime/host.js';
import { type ApiServer, kubeconfigYaml } from '../../apiserver/index.js';
import { aggregatorArgs, apiserverCommand, controllerManagerCommand, etcdCommand, schedulerCommand } from './commands.js';
import { prepareFrontProxy, preparePki, type ControlPlanePki } from './pki.js';
import { startProcess, stopProcess, waitUntil, type Proc } from './processes.js';
import { apiserverReady, controlPlaneRequest, serviceAccountToken, type ServiceAccountTokenOptions } from './requests.js';

export {
  controllerManagerAvailable,
  controlPlaneAvailable,
  controlPlaneBinDir,
  controlPlaneBinary,
  controlPlaneVersions,
  CONTROL_PLANE_BINARIES,
} from './binaries.js';
export { ControlPlaneError } from './errors.js';
export { aggregatorArgs, apiserverCommand, controllerManagerCommand, etcdCommand, schedulerCommand, type Command } from './commands.js';
export { type CertFiles, ensureCa, ensureLeaf } from './certs.js';
export { FRONT_PROXY_CLIENT, prepareFrontProxy, preparePki, type ControlPlanePki } from './pki.js';
export { apiserverReady, controlPlaneRequest, serviceAccountToken, type ServiceAccountTokenOptions } from './requests.js';

export interface ControlPlaneOptions {
  /** State (etcd data, certs, logs, kubeconfigs); a temporary directory, removed on stop, when absent. */
  dir?: string;
  /** Also start kube-scheduler (with its own RBAC identity). */
  scheduler?: boolean;
  /** Extra kube-apiserver flags (e.g. to lift request limits for a benchmark). */
  apiserverArgs?: string[];
  /** Extra kube-scheduler flags. */
  schedulerArgs?: string[];
  /** kube-scheduler's client QPS and burst (default 50 / 100, its own defaults). */
  schedulerQps?: number;
  schedulerBurst?: number;
  /** How long kube-apiserver may take to become ready (default 90 s: RBAC bootstrap on a loaded 2-core machine is slow). */
  readyTimeoutMs?: number;
  /** Serve the aggregation layer (APIServices proxied to extension API servers; commands.ts aggregatorArgs). */
  aggregator?: boolean;
}

/**
 * The same handle as the emulator's (url, admin kubeconfig and token, CA, stop), so tests and
 * the launcher treat either server alike; the kubeconfig and token are the cluster admin's
 * (group system:masters).
 */
export interface ControlPlane extends ApiServer {
  dir: string;
  etcdUrl: string;
  /** pids of the processes this started, by name (etcd, kube-apiserver, kube-scheduler), for leak checks and CPU accounting. */
  pids(): Record<string, number>;
  /**
   * A kubeconfig (YAML, and a file under dir) for a ServiceAccount, with a token from the
   * TokenRequest API; the ServiceAccount is created when missing. It can do exactly what
   * RBAC grants `system:serviceaccount:<namespace>:<name>`.
   */
  serviceAccountKubeconfig(
    namespace: string,
    name: string,
    opts?: ServiceAccountTokenOptions,
  ): Promise<{ path: string; yaml: string; token: string }>;
  /**
   * Starts kube-controller-manager with only these controllers (e.g. horizontal-pod-autoscaler-controller),
   * built by scripts/cluster-parts.sh; stopped with the plane.
   */
  startControllerManager(controllers: string[], args?: string[]): Promise<void>;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const temp = !opts.dir;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'gantry-controlplane-'));
  mkdirSync(dir, { recursive: true });
  const procs: Proc[] = [];
  const stopAll = async () => {
    for (const p of [...procs].reverse()) await stopProcess(p);
  };
  try {
    const [clientPort, peerPort, port] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${clientPort}`;
    const e = etcdCommand(dir, clientPort, peerPort);
    const etcd = startProcess(dir, 'etcd', e.command, e.args);
    procs.push(etcd);
    await waitUntil('healthy', etcd, 30_000, async () => (await fetch(`${etcdUrl}/health`)).ok);

    const pki = await preparePki(dir);
    if (opts.aggregator) await prepareFrontProxy(pki.dir);
    const url = `https://127.0.0.1:${port}`;
    const a = apiserverCommand(pki, etcdUrl, port, [...(opts.aggregator ? aggregatorArgs(pki.dir) : []), ...(opts.apiserverArgs ?? [])]);
    const apiserver = startProcess(dir, 'kube-apiserver', a.command, a.args);
    procs.push(apiserver);
    const yaml = kubeconfigYaml(url, pki.caPem, pki.token);
    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, yaml, { mode: 0o600 });
    await waitUntil('ready', apiserver, opts.readyTimeoutMs ?? 90_000, () => apiserverReady(url, pki));

    if (opts.scheduler) await startScheduler(dir, url, pki, opts, procs);

    let stopped = false;
    return {
      url,
      port,
      kubeconfigPath,
      kubeconfigYaml: yaml,
      caPem: pki.caPem,
      token: pki.token,
      dir,
      etcdUrl,
      pids: () => Object.fromEntries(procs.filter((p) => p.child.pid).map((p) => [p.name, p.child.pid!])),
      async serviceAccountKubeconfig(namespace, name, tokenOpts) {
        const saToken = await serviceAccountToken(url, pki, namespace, name, tokenOpts);
        const saYaml = kubeconfigYaml(url, pki.caPem, saToken, namespace);
        const path = join(dir, `sa-${namespace}-${name}${tokenOpts?.boundNode ? `-node-${tokenOpts.boundNode}` : ''}.kubeconfig`);
        writeFileSync(path, saYaml, { mode: 0o600 });
        return { path, yaml: saYaml, token: saToken };
      },
      startControllerManager: (controllers, args) => startControllerManager(dir, url, pki, procs, controllers, args),
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll();
        if (temp) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await stopAll();
    if (temp) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** kube-scheduler with its own identity (system:kube-scheduler); recorded in `procs` before the wait, so a failed start stops it. */
async function startScheduler(dir: string, url: string, pki: ControlPlanePki, opts: ControlPlaneOptions, procs: Proc[]): Promise<void> {
  const schedKubeconfig = join(dir, 'scheduler.kubeconfig');
  writeFileSync(schedKubeconfig, kubeconfigYaml(url, pki.caPem, pki.schedulerToken, 'kube-system'), { mode: 0o600 });
  const schedPort = await freePort();
  const sc = schedulerCommand(dir, schedKubeconfig, schedPort, {
    qps: opts.schedulerQps,
    burst: opts.schedulerBurst,
    extra: opts.schedulerArgs,
  });
  await startHealthy(dir, 'kube-scheduler', sc, schedPort, procs);
}

/**
 * Starts a control-plane component serving /healthz on 127.0.0.1:PORT and waits until it is
 * healthy; recorded in `procs` before the wait, so a failed start stops it. Its serving
 * certificate is self-signed by itself: the probe only asks whether it is up.
 */
async function startHealthy(dir: string, name: string, c: { command: string; args: string[] }, port: number, procs: Proc[]): Promise<void> {
  const proc = startProcess(dir, name, c.command, c.args);
  procs.push(proc);
  await waitUntil(
    'healthy',
    proc,
    60_000,
    async () => (await controlPlaneRequest(`https://127.0.0.1:${port}/healthz`, { insecure: true, timeoutMs: 2000 })).status === 200,
  );
}

/** kube-controller-manager as system:kube-controller-manager; recorded in `procs` before the wait, so a failed start stops it. */
async function startControllerManager(
  dir: string,
  url: string,
  pki: ControlPlanePki,
  procs: Proc[],
  controllers: string[],
  args?: string[],
): Promise<void> {
  const kubeconfig = join(dir, 'controller-manager.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(url, pki.caPem, pki.controllerManagerToken, 'kube-system'), { mode: 0o600 });
  const port = await freePort();
  const c = controllerManagerCommand(dir, kubeconfig, port, controllers, args);
  await startHealthy(dir, 'kube-controller-manager', c, port, procs);
}
