/**
 * `gantry sandbox up --apiserver real`: the sandbox's API is a real kube-apiserver over etcd
 * (sandbox/controlplane, built by scripts/control-plane.sh), each a child the launcher owns
 * like NATS or the registry, with state in DIR/controlplane/ so a second `up` resumes the
 * same cluster. deploy/base's namespace, ServiceAccounts and RBAC are applied, and the
 * controller and the agents get kubeconfigs with those ServiceAccounts' tokens — they run with
 * exactly the rights a real cluster would give them, not as cluster admin. Each agent's token
 * is bound to its Node, and deploy/base's admission policy is applied: the production posture. DIR/kubeconfig is
 * the admin's, for people and kubectl.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kubeconfigYaml } from '../../apiserver/index.js';
import {
  apiserverCommand,
  apiserverReady,
  controlPlaneAvailable,
  controlPlaneBinary,
  controlPlaneBinDir,
  etcdCommand,
  preparePki,
  serviceAccountToken,
} from '../controlplane/index.js';
import { GANTRY_NAMESPACE } from './cluster-objects.js';
import { SandboxError } from './errors.js';
import { ManagedProcess } from './managed-process.js';
import type { ChildGroup } from './child-group.js';
import { writeAtomic, type StateDir } from './state-dir.js';

const run = promisify(execFile);

export type ApiserverKind = 'emulated' | 'real';

export function chooseApiserverKind(asked: string | undefined): ApiserverKind {
  if (asked === undefined || asked === 'emulated') return 'emulated';
  if (asked === 'real') {
    if (!controlPlaneAvailable()) {
      throw new SandboxError(
        'SANDBOX_MISSING_BINARY',
        `--apiserver real needs kube-apiserver and etcd in ${controlPlaneBinDir()}: build them with scripts/control-plane.sh (needs Go; 10–25 minutes once on 2 cores), or use --apiserver emulated`,
        'usage',
      );
    }
    return 'real';
  }
  throw new SandboxError('SANDBOX_BAD_APISERVER_KIND', `--apiserver ${asked}: expected real or emulated`, 'usage');
}

export interface RealApiserver {
  url: string;
  /** Admin kubeconfig (written to DIR/kubeconfig). */
  adminKubeconfig: string;
  controllerKubeconfig: string;
  /** An agent's kubeconfig: gantry-agent's token bound to `node`'s Node object, which must exist. */
  agentKubeconfig(node: string): Promise<string>;
}

export interface RealApiserverOptions {
  sd: StateDir;
  apiserverPort: number;
  etcdPort: number;
  etcdPeerPort: number;
  env: NodeJS.ProcessEnv;
  onUnexpectedExit: (p: ManagedProcess, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Records and marks each child the moment it is spawned (child-group.ts), so a failed or
   *  killed start-up still stops it. */
  group: ChildGroup;
  packageRoot: string;
}

export async function startRealApiserver(o: RealApiserverOptions): Promise<RealApiserver> {
  const dir = join(o.sd.root, 'controlplane');
  const etcdUrl = `http://127.0.0.1:${o.etcdPort}`;
  const e = etcdCommand(dir, o.etcdPort, o.etcdPeerPort);
  const etcd = new ManagedProcess({
    name: 'etcd',
    command: e.command,
    args: e.args,
    logFile: o.sd.log('etcd'),
    env: o.env,
    onUnexpectedExit: o.onUnexpectedExit,
    group: o.group,
    ready: async () => (await fetch(`${etcdUrl}/health`)).ok,
    startTimeoutMs: 30_000,
    stopGraceMs: 10_000,
  });
  await etcd.start();

  const pki = await preparePki(dir);
  const url = `https://127.0.0.1:${o.apiserverPort}`;
  const a = apiserverCommand(pki, etcdUrl, o.apiserverPort);
  const apiserver = new ManagedProcess({
    name: 'kube-apiserver',
    command: a.command,
    args: a.args,
    logFile: o.sd.log('kube-apiserver'),
    env: o.env,
    onUnexpectedExit: o.onUnexpectedExit,
    group: o.group,
    // RBAC bootstrap on a busy 2-core machine can take half a minute
    ready: () => apiserverReady(url, pki),
    startTimeoutMs: 120_000,
    stopGraceMs: 10_000,
  });
  await apiserver.start();
  writeAtomic(o.sd.kubeconfig, kubeconfigYaml(url, pki.caPem, pki.token), 0o600);

  await applyDeployBase(o.packageRoot, o.sd.kubeconfig);
  const kubeconfigFor = async (sa: string, boundNode?: string) => {
    const token = await serviceAccountToken(url, pki, GANTRY_NAMESPACE, sa, boundNode ? { boundNode } : {});
    const path = join(dir, boundNode ? `${sa}-${boundNode}.kubeconfig` : `${sa}.kubeconfig`);
    writeAtomic(path, kubeconfigYaml(url, pki.caPem, token, GANTRY_NAMESPACE), 0o600);
    return path;
  };
  return {
    url,
    adminKubeconfig: o.sd.kubeconfig,
    controllerKubeconfig: await kubeconfigFor('gantry-controller'),
    // as a kubelet-projected token would be: bound to the agent's Node, so the API server stamps
    // it with the node's name and the admission policy lets it write only that node's objects
    agentKubeconfig: (node) => kubeconfigFor('gantry-agent', node),
  };
}

/** deploy/base's namespaces, RBAC and agent admission policy, applied as an operator would (server-side, idempotent). */
async function applyDeployBase(packageRoot: string, kubeconfig: string): Promise<void> {
  const base = join(packageRoot, 'deploy', 'base');
  try {
    await run(
      controlPlaneBinary('kubectl'),
      [
        '--kubeconfig',
        kubeconfig,
        'apply',
        '--server-side',
        '--field-manager=gantry-sandbox',
        '-f',
        join(base, 'namespace.yaml'),
        '-f',
        join(base, 'rbac-controller.yaml'),
        '-f',
        join(base, 'rbac-agent.yaml'),
        // the production posture: each agent's writes narrowed to its own node
        '-f',
        join(base, 'admission-agent.yaml'),
      ],
      { timeout: 60_000 },
    );
  } catch (err) {
    throw new SandboxError(
      'SANDBOX_PROCESS_FAILED',
      `applying deploy/base's RBAC failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`,
      'failure',
    );
  }
}
