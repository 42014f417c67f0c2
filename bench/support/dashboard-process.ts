/**
 * `gantry dashboard` as a user starts it — the built CLI as a child process, on a free loopback
 * port — for the browser test and the dashboard bench. Ready once its port accepts connections;
 * stop() sends SIGTERM and waits for the exit (SIGKILL after 5 s).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort, waitForPort } from '../../runtime/host.js';
import { gantryBin } from '../../runtime/paths.js';

export interface DashboardProcess {
  url: string;
  proc: ChildProcess;
  /** Its stdout and stderr so far. */
  out(): string;
  stop(): Promise<void>;
}

export async function startDashboard(kubeconfig: string, env: NodeJS.ProcessEnv = process.env): Promise<DashboardProcess> {
  const port = await freePort();
  const proc = spawn(process.execPath, [gantryBin(), 'dashboard', '--kubeconfig', kubeconfig, '--port', String(port)], {
    env: { ...env, GANTRY_LOG_LEVEL: env.GANTRY_LOG_LEVEL || 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  // a dashboard that exits at start (bad flag, no kubeconfig) says why instead of a port timeout
  const died = exited.then(() => {
    throw new Error(`gantry dashboard exited (status ${proc.exitCode}, signal ${proc.signalCode}):\n${out}`);
  });
  try {
    await Promise.race([waitForPort(port, '127.0.0.1', 30_000), died]);
  } catch (e) {
    await stop();
    throw e;
  }
  died.catch(() => {}); // a later exit is the caller's to notice (stop(), or the page losing its stream)
  return { url: `http://127.0.0.1:${port}/`, proc, out: () => out, stop };
}
