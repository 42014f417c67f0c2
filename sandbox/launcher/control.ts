/**
 * `gantry sandbox down` and `status`: act on a sandbox started by another process, through
 * its state dir. `down` signals the launcher (SIGTERM = the same clean stop as Ctrl-C) and
 * waits for it to release the dir; children it fails to stop in time are killed by pid.
 */
import { existsSync } from 'node:fs';
import { KubeClient, loadKubeConfig, resourcePath } from '../../runtime/kube.js';
import { killMarked } from './child-group.js';
import { SandboxError } from './errors.js';
import { commandLineMentions, isAlive, StateDir } from './state-dir.js';

export interface DownResult {
  pid: number;
  forced: boolean;
}

export async function stopRunningSandbox(dir: string, timeoutMs = 60_000): Promise<DownResult> {
  const sd = new StateDir(dir);
  const run = sd.readRun();
  if (!run) throw new SandboxError('SANDBOX_NOT_RUNNING', `no sandbox is running on ${sd.root}`);
  process.kill(run.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(run.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  let forced = false;
  if (isAlive(run.pid)) {
    forced = true;
    try {
      process.kill(run.pid, 'SIGKILL');
    } catch {}
  }
  for (const c of run.children ?? []) {
    // only what still runs with this state dir in its command line (pids get reused)
    if (isAlive(c.pid) && commandLineMentions(c.pid, sd.root)) {
      forced = true;
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {}
      }
    }
  }
  // and anything else carrying the state dir's marker (a child spawned after the last record)
  if (killMarked(sd.root).length) forced = true;
  sd.release(run.pid);
  return { pid: run.pid, forced };
}

export interface SandboxStatus {
  stateDir: string;
  exists: boolean;
  running: boolean;
  pid?: number;
  startedAt?: string;
  apiserverUrl?: string;
  /** `emulated` or `real` (kube-apiserver + etcd). */
  apiserver: 'emulated' | 'real';
  natsUrl?: string;
  registry?: string;
  kubeconfig?: string;
  children: { name: string; pid: number; alive: boolean }[];
  nodes: { name: string; arch: string; os: string; foreign: boolean; agentRenewedAt?: string }[];
  providers: { namespace: string; name: string; desired?: number; ready?: number; readyCondition?: string }[];
}

export async function sandboxStatus(dir: string): Promise<SandboxStatus> {
  const sd = new StateDir(dir);
  const state = existsSync(sd.stateFile) ? sd.readState() : undefined;
  const run = sd.readRun();
  const st: SandboxStatus = {
    stateDir: sd.root,
    exists: !!state,
    running: !!run,
    pid: run?.pid,
    startedAt: run?.startedAt,
    apiserverUrl: run?.apiserverUrl,
    apiserver: state?.apiserver ?? 'emulated',
    natsUrl: run?.natsUrl,
    registry: run?.registry ?? state?.registry.location,
    kubeconfig: existsSync(sd.kubeconfig) ? sd.kubeconfig : undefined,
    children: (run?.children ?? []).map((c) => ({ ...c, alive: isAlive(c.pid) })),
    nodes: (state?.nodes ?? []).map((n) => ({ name: n.name, arch: n.arch, os: n.os, foreign: n.foreign })),
    providers: [],
  };
  if (!run || !st.kubeconfig) return st;
  const kube = new KubeClient(loadKubeConfig({ kubeconfigPath: sd.kubeconfig }));
  try {
    for (const n of st.nodes) {
      const lease = await kube
        .get(
          resourcePath({
            group: 'coordination.k8s.io',
            version: 'v1',
            plural: 'leases',
            namespace: 'gantry-system',
            name: `gantry-agent-${n.name}`,
          }),
        )
        .catch(() => undefined);
      n.agentRenewedAt = lease?.spec?.renewTime;
    }
    const list = await kube
      .list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers' }))
      .catch(() => ({ items: [] as any[] }));
    for (const p of list.items) {
      st.providers.push({
        namespace: p.metadata.namespace,
        name: p.metadata.name,
        desired: p.spec?.replicas,
        ready: p.status?.readyReplicas,
        readyCondition: p.status?.conditions?.find((c: any) => c.type === 'Ready')?.status,
      });
    }
  } finally {
    kube.close();
  }
  return st;
}

export function formatStatus(s: SandboxStatus): string {
  if (!s.exists) return `no sandbox in ${s.stateDir} (start one with \`gantry sandbox up\`)`;
  const lines = [
    `sandbox ${s.stateDir}: ${s.running ? `running (pid ${s.pid}, since ${s.startedAt})` : 'stopped (`gantry sandbox up` resumes it)'}`,
  ];
  if (s.running) {
    lines.push(
      `  API server   ${s.apiserverUrl} (${s.apiserver === 'real' ? 'kube-apiserver + etcd' : 'emulator'})`,
      `  kubeconfig   ${s.kubeconfig}`,
      `  NATS         ${s.natsUrl}`,
    );
  }
  lines.push(`  registry     ${s.registry}`);
  for (const c of s.children) lines.push(`  ${c.name.padEnd(24)} pid ${c.pid}  ${c.alive ? 'running' : 'EXITED'}`);
  for (const n of s.nodes) {
    lines.push(
      `  node ${n.name.padEnd(16)} ${n.arch}/${n.os}${n.foreign ? ' (foreign)' : ''}${s.running ? `  agent lease ${n.agentRenewedAt ?? 'none'}` : ''}`,
    );
  }
  for (const p of s.providers)
    lines.push(`  provider ${p.namespace}/${p.name}  ready ${p.ready ?? 0}/${p.desired ?? '?'}  Ready=${p.readyCondition ?? 'Unknown'}`);
  return lines.join('\n');
}
