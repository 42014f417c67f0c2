/**
 * The control plane's processes (etcd, kube-apiserver, kube-scheduler): each started with its
 * output in DIR/<name>.log, waited on until a probe passes (or named with its log tail when it
 * exits first), stopped with SIGTERM then SIGKILL, and killed with this process if it dies
 * without stop() so no server outlives its owner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ControlPlaneError } from './errors.js';

export interface Proc {
  name: string;
  child: ChildProcess;
  log: string;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
/** If the owning process dies without stop(), take the servers with it (no leftovers). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const c of live)
      if (c.exitCode === null && c.signalCode === null)
        try {
          c.kill('SIGKILL');
        } catch {
          /* gone */
        }
  });
}

function tail(path: string, n = 3000): string {
  try {
    return readFileSync(path, 'utf8').slice(-n);
  } catch {
    return '';
  }
}

export function startProcess(dir: string, name: string, bin: string, args: string[]): Proc {
  const log = join(dir, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  live.add(child);
  child.once('exit', () => live.delete(child));
  installExitHook();
  return { name, child, log };
}

export async function stopProcess(p: Proc, graceMs = 10_000): Promise<void> {
  const c = p.child;
  if (c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function waitUntil(what: string, proc: Proc, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new ControlPlaneError(
        'CONTROL_PLANE_START_FAILED',
        `${proc.name} exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${what}; its log ends:\n${tail(proc.log)}`,
      );
    }
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new ControlPlaneError(
    'CONTROL_PLANE_START_FAILED',
    `${proc.name} was not ${what} within ${timeoutMs} ms; its log ends:\n${tail(proc.log)}`,
  );
}
