/** The built CLI, spawned as a user runs it, with its own HOME and config dir (nothing of the caller's ~/.docker or ~/.config is read). */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { gantryBin } from '../../runtime/paths.js';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function gantryIn(cwd: string, home: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [gantryBin(), ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GANTRY_LOG_LEVEL: 'error', HOME: home, XDG_CONFIG_HOME: join(home, 'config') },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (c) => {
      clearTimeout(timer);
      resolve({ code: c ?? -1, stdout, stderr });
    });
  });
}
