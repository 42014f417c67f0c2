/**
 * `gantry sandbox up` as a child the interrupt tests can kill at will, in a state dir of its
 * own; `cleanup()` (for afterAll) kills what is left, including every process marked with the
 * state dir (child-group.ts), and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gantryBin } from '../../runtime/paths.js';
import { killMarked } from '../../sandbox/launcher/child-group.js';

export interface SandboxLaunch {
  proc: ChildProcess;
  out(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function sandboxLauncher(prefix: string): {
  dir: string;
  /** `extraArgs` follow `--nodes 1`; `env` adds to this process's (OTEL_* for the trace tests). */
  up(extraArgs?: string[], env?: Record<string, string>): SandboxLaunch;
  cleanup(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const started: ChildProcess[] = [];
  return {
    dir,
    up(extraArgs: string[] = [], env: Record<string, string> = {}) {
      const proc = spawn(process.execPath, [gantryBin(), 'sandbox', 'up', '--state-dir', dir, '--nodes', '1', ...extraArgs], {
        env: { ...process.env, GANTRY_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.push(proc);
      let out = '';
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
        proc.once('exit', (code, signal) => r({ code, signal })),
      );
      return { proc, out: () => out, exited };
    },
    cleanup() {
      for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      killMarked(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
