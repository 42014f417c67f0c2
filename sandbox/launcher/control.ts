/**
 * `gantry sandbox down` and `status`: act on a sandbox started by another process, through
 * its state dir. `down` signals the launcher (SIGTERM = the same clean stop as Ctrl-C) and
 * waits for it to release the dir; children it fails to stop in time are killed by pid.
 */
import { existsSync, readFileSync } from 'node:fs';
import { killMarked } from './child-group.js';
import { SandboxError } from './errors.js';
import { commandLineMentions, isAlive, type RunRecord, type SandboxState, StateDir } from './state-dir.js';

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
  for (const c of run.children ?? []) if (killRecordedChild(c.pid, sd.root)) forced = true;
  // and anything else carrying the state dir's marker (a child spawned after the last record)
  if (killMarked(sd.root).length) forced = true;
  sd.release(run.pid);
  return { pid: run.pid, forced };
}

/**
 * Stop what a launcher killed with SIGKILL left behind: the children named in run.json, then
 * every process still carrying this state dir's marker (a child spawned after the last
 * record, provider hosts of a killed agent). Nothing is touched while a launcher owns the dir.
 */
export function reapOrphans(sd: StateDir, say: (line: string) => void): void {
  let rec: RunRecord | undefined;
  try {
    rec = JSON.parse(readFileSync(sd.runFile, 'utf8'));
  } catch {
    rec = undefined;
  }
  if (rec && Number.isInteger(rec.pid) && isAlive(rec.pid)) return;
  for (const c of rec?.children ?? []) {
    if (killRecordedChild(c.pid, sd.root)) say(`  stopping ${c.name} (pid ${c.pid}) left by a previous sandbox that did not stop cleanly`);
  }
  for (const pid of killMarked(sd.root))
    say(`  stopped pid ${pid} (marked with this state dir) left by a previous sandbox that did not stop cleanly`);
}

/**
 * SIGKILL a child named in run.json, and the process group it leads, if it still runs. A pid
 * may have been reused since: only a process whose command line names this state dir (every
 * child's does) is ours to kill. True when it was signalled.
 */
function killRecordedChild(pid: number, root: string): boolean {
  if (!Number.isInteger(pid) || !isAlive(pid) || !commandLineMentions(pid, root)) return false;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  return true;
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
  /** Where each process serves Prometheus metrics: the controllers and the agents (`agent-<node>`). */
  metrics: { name: string; url: string }[];
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
    metrics: state ? metricsUrls(state) : [],
    nodes: (state?.nodes ?? []).map((n) => ({ name: n.name, arch: n.arch, os: n.os, foreign: n.foreign })),
    providers: [],
  };
  if (!run || !st.kubeconfig) return st;
  // the Kubernetes client is slow to load: only when there is a cluster to ask (sandbox/index.ts stays light)
  const { KubeClient, loadKubeConfig, resourcePath } = await import('../../runtime/kube.js');
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

/** The controllers' metrics ports (named as their processes are) and each node's agent's. */
function metricsUrls(st: SandboxState): { name: string; url: string }[] {
  const url = (port: number) => `http://127.0.0.1:${port}/metrics`;
  const controllers = [st.controllerMetricsPort, ...(st.extraControllerMetricsPorts ?? [])];
  return [
    ...controllers.map((port, k) => ({ name: k === 0 ? 'controller' : `controller-${k + 1}`, url: url(port) })),
    ...st.nodes.flatMap((n) => {
      const port = st.agentMetricsPorts?.[n.name];
      return port ? [{ name: `agent-${n.name}`, url: url(port) }] : [];
    }),
  ];
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
  if (s.running) for (const m of s.metrics) lines.push(`  metrics ${m.name.padEnd(16)} ${m.url}`);
  for (const n of s.nodes) {
    lines.push(
      `  node ${n.name.padEnd(16)} ${n.arch}/${n.os}${n.foreign ? ' (foreign)' : ''}${s.running ? `  agent lease ${n.agentRenewedAt ?? 'none'}` : ''}`,
    );
  }
  for (const p of s.providers)
    lines.push(`  provider ${p.namespace}/${p.name}  ready ${p.ready ?? 0}/${p.desired ?? '?'}  Ready=${p.readyCondition ?? 'Unknown'}`);
  return lines.join('\n');
}
