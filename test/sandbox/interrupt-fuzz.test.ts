/**
 * Ctrl-C at ten moments of `gantry sandbox up`, from right after launch to after Ready, all in
 * one state dir: after each, no process of that sandbox remains (none carries the state dir's
 * marker in /proc/<pid>/environ — children, provider hosts, a child whose start had not
 * finished) and run.json is gone; each next `up` in the same dir gets at least as far as the
 * previous one was cut, and the last runs to Ready and stops cleanly.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxLauncher } from '../support/sandbox-launch.js';
import { isAlive } from '../../sandbox/launcher/state-dir.js';
import { markedProcesses } from '../../sandbox/launcher/child-group.js';

const sandbox = sandboxLauncher('gantry-sandbox-fuzz-');
const dir = sandbox.dir;
const up = () => sandbox.up();

afterAll(() => sandbox.cleanup());

/** The moments, in start-up order: a line of `up`'s output (null = at once). */
const MOMENTS: { name: string; line: RegExp | null }[] = [
  { name: 'right after launch', line: null },
  { name: 'start-up begun', line: /(starting|resuming) the Gantry sandbox/ },
  { name: 'API server ready', line: /\n {2}API server / },
  { name: 'CRDs applied', line: /\n {2}CRDs / },
  { name: 'NATS ready (registry starting)', line: /\n {2}NATS / },
  { name: 'registry ready', line: /\n {2}registry / },
  { name: 'archives published (controller starting)', line: /\n {2}archive / },
  { name: 'controller ready (agent starting)', line: /\n {2}controller / },
  { name: 'agents ready (examples applying)', line: /\n {2}agents / },
  { name: 'after Ready', line: /The sandbox is up/ },
];

async function until(what: string, ok: () => boolean, detail: () => string, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (!ok()) throw new Error(`timed out waiting for ${what}\n${detail()}`);
}

describe('Ctrl-C fuzz: sandbox up interrupted at ten moments', () => {
  it('leaves no process of the sandbox and lets the next up succeed, every time', { timeout: 600_000 }, async () => {
    for (const m of MOMENTS) {
      const t0 = Date.now();
      const run = up();
      if (m.line) await until(m.name, () => m.line!.test(run.out()) || run.proc.exitCode !== null, run.out);
      expect(run.proc.exitCode, `${m.name}: up ended by itself:\n${run.out()}`).toBeNull();
      run.proc.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const { code, signal } = await Promise.race([
        run.exited,
        new Promise<never>(
          (_, reject) =>
            (timer = setTimeout(() => reject(new Error(`${m.name}: up did not exit within 60 s of SIGINT\n${run.out()}`)), 60_000)),
        ),
      ]).finally(() => clearTimeout(timer));
      process.stderr.write(`fuzz: ${m.name}: exit ${signal ?? code} after ${Date.now() - t0} ms\n`);
      // SIGINT before the launcher installs its handler ends it at once (nothing was started);
      // during start-up it stops what started and exits 1; once up it stops cleanly with 0
      if (signal === null) {
        if (code !== 0) expect(run.out(), m.name).toContain('start-up interrupted by SIGINT; everything started was stopped');
        expect(code === 0 || code === 1, `${m.name}: exit ${code}\n${run.out()}`).toBe(true);
      } else {
        expect(signal, m.name).toBe('SIGINT');
      }
      if (m.name === 'after Ready') expect(code, run.out()).toBe(0);
      expect(markedProcesses(dir).filter(isAlive), `${m.name}: processes of the sandbox still running\n${run.out()}`).toEqual([]);
      expect(existsSync(join(dir, 'run.json')), m.name).toBe(false);
      expect(run.out(), m.name).not.toContain('left by a previous sandbox');
    }
  });
});
