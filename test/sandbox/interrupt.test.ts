/**
 * A sandbox that does not get to stop cleanly: a launcher SIGKILLed mid-start leaves its
 * Go children (nats-server, docker-registry — one whose start had not finished) running while
 * its Node children stop themselves, and the next `up` stops every survivor before starting anew; a Ctrl-C during start-up stops what has
 * started
 * and exits 1. "Its children" = every process carrying the state dir's marker (ChildGroup),
 * so the checks see a child run.json never named as well.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sandboxLauncher } from '../support/sandbox-launch.js';
import { isAlive } from '../../sandbox/launcher/state-dir.js';
import { markedProcesses } from '../../sandbox/launcher/child-group.js';

const sandbox = sandboxLauncher('gantry-sandbox-interrupt-');
const dir = sandbox.dir;
const up = () => sandbox.up();

afterAll(() => sandbox.cleanup());

async function until(what: string, ok: () => boolean, detail: () => string): Promise<void> {
  for (let i = 0; i < 600 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
  if (!ok()) throw new Error(`timed out waiting for ${what}\n${detail()}`);
}

const childPids = () => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')).children as { name: string; pid: number }[];
const alive = (pids: number[]) => pids.filter(isAlive);

describe('sandbox start-up cut short', () => {
  it('SIGKILL mid-start leaves children (one still starting); the next up reaps them all; Ctrl-C during start-up stops all', async () => {
    const first = up();
    // right after NATS is ready the launcher spawns the registry: a child still starting
    await until('NATS to start', () => /\n {2}NATS /.test(first.out()), first.out);
    const recorded = childPids();
    expect(recorded.map((c) => c.name).slice(0, 2)).toEqual(['apiserver', 'nats-server']);
    first.proc.kill('SIGKILL');
    await first.exited;
    const orphans = alive(markedProcesses(dir));
    const pidOf = (name: string) => recorded.find((c) => c.name === name)!.pid;
    // the Node children watch their parent and stop themselves (runtime/parent-watch.ts) …
    await until(
      'the orphaned API emulator to stop itself',
      () => !isAlive(pidOf('apiserver')),
      () => JSON.stringify(recorded),
    );
    // … nats-server and docker-registry cannot: they wait for the next start
    expect(isAlive(pidOf('nats-server'))).toBe(true);
    expect(orphans).toContain(pidOf('nats-server'));

    const second = up();
    await until('NATS to start again', () => /\n {2}NATS /.test(second.out()), second.out);
    expect(second.out()).toContain(
      `stopping nats-server (pid ${pidOf('nats-server')}) left by a previous sandbox that did not stop cleanly`,
    );
    expect(alive(orphans), 'processes of the SIGKILLed launcher still running').toEqual([]);
    second.proc.kill('SIGINT');
    const { code } = await second.exited;
    expect(code, second.out()).toBe(1);
    expect(second.out()).toContain('start-up interrupted by SIGINT; everything started was stopped');
    expect(alive(markedProcesses(dir)), 'processes of the interrupted sandbox still running').toEqual([]);
    expect(existsSync(join(dir, 'run.json'))).toBe(false);
  });
});
