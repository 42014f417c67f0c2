/**
 * `gantry sandbox up --apiserver real`: the sandbox's API is a real kube-apiserver over etcd
 * (sandbox/controlplane, built by scripts/control-plane.sh), each a child the launcher owns
 * like NATS or the registry, with state in DIR/controlplane/ so a second `up` resumes the
 * same cluster. deploy/base's namespace, ServiceAccounts and RBAC are applied, and the
 * controller and the agents get kubeconfigs with those ServiceAccounts' tokens — they run with
 * exactly the rights a real cluster would give them, not as cluster admin. DIR/kubeconfig is
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
  agentKubeconfig: string;
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

  // deploy/base's namespace and RBAC, applied as an operator would (server-side, idempotent)
  const base = join(o.packageRoot, 'deploy', 'base');
  try {
    await run(
      controlPlaneBinary('kubectl'),
      [
        '--kubeconfig',
        o.sd.kubeconfig,
        'apply',
        '--server-side',
        '--field-manager=gantry-sandbox',
        '-f',
        join(base, 'namespace.yaml'),
        '-f',
        join(base, 'rbac-controller.yaml'),
        '-f',
        join(base, 'rbac-agent.yaml'),
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
  const kubeconfigFor = async (sa: string) => {
    const token = await serviceAccountToken(url, pki, GANTRY_NAMESPACE, sa);
    const path = join(dir, `${sa}.kubeconfig`);
    writeAtomic(path, kubeconfigYaml(url, pki.caPem, token, GANTRY_NAMESPACE), 0o600);
    return path;
  };
  return {
    url,
    adminKubeconfig: o.sd.kubeconfig,
    controllerKubeconfig: await kubeconfigFor('gantry-controller'),
    agentKubeconfig: await kubeconfigFor('gantry-agent'),
  };
}
