/**
 * A sandbox that does not get to stop cleanly: a launcher SIGKILLed mid-start leaves its
 * children running, and the next `up` stops them before starting anew; a Ctrl-C during
 * start-up stops what has started and exits 1.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gantryBin } from '../../runtime/paths.js';
import { isAlive } from '../../sandbox/launcher/state-dir.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-sandbox-interrupt-'));
const started: ChildProcess[] = [];
const stray: number[] = [];

afterAll(async () => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const pid of stray) if (isAlive(pid)) try { process.kill(-pid, 'SIGKILL'); } catch {}
  rmSync(dir, { recursive: true, force: true });
});

function up() {
  const proc = spawn(process.execPath, [gantryBin(), 'sandbox', 'up', '--state-dir', dir, '--nodes', '1'], { env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return { proc, out: () => out, exited };
}

async function until(what: string, ok: () => boolean, detail: () => string): Promise<void> {
  for (let i = 0; i < 600 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!ok()) throw new Error(`timed out waiting for ${what}\n${detail()}`);
}

const childPids = () => (JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).children as { name: string; pid: number }[]);

describe('sandbox start-up cut short', () => {
  it('SIGKILL mid-start leaves children; the next up reaps them; Ctrl-C during start-up stops all', async () => {
    const first = up();
    await until('NATS to start', () => /\n {2}NATS /.test(first.out()), first.out);
    const orphans = childPids();
    expect(orphans.map((c) => c.name)).toEqual(['apiserver', 'nats-server']);
    stray.push(...orphans.map((c) => c.pid));
    first.proc.kill('SIGKILL');
    await first.exited;
    for (const c of orphans) expect(isAlive(c.pid), c.name).toBe(true);

    const second = up();
    await until('NATS to start again', () => /\n {2}NATS /.test(second.out()), second.out);
    for (const c of orphans) {
      expect(second.out()).toContain(`stopping ${c.name} (pid ${c.pid}) left by a previous sandbox that did not stop cleanly`);
      expect(isAlive(c.pid), c.name).toBe(false);
    }
    const running = childPids();
    stray.push(...running.map((c) => c.pid));
    second.proc.kill('SIGINT');
    const { code } = await second.exited;
    expect(code, second.out()).toBe(1);
    expect(second.out()).toContain('start-up interrupted by SIGINT; everything started was stopped');
    for (const c of running) expect(isAlive(c.pid), c.name).toBe(false);
    expect(existsSync(join(dir, 'run.json'))).toBe(false);
  });
});
