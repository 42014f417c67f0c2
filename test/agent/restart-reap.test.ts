/**
 * An agent that restarts stops the provider hosts its predecessor left running before it
 * starts anything (agent/host-records.ts reapAll), even a host that ignores both the dropped
 * IPC channel and SIGTERM — the case where "hosts exit on their own when the agent goes" does
 * not hold. A recorded pid that now belongs to an unrelated process (pids get reused) is left
 * alone. The stray host is a real process whose command line carries the host entry point.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../agent/index.js';
import { HostRecords } from '../../agent/host-records.js';
import { startWorld, type World } from './harness.js';

/** Running (not gone, not a zombie waiting for its parent to collect it). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const exited = (p: ChildProcess) =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r()));

describe('agent restart', () => {
  let w: World;
  let agent: Agent | undefined;
  const dirs: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    w = await startWorld();
  }, 30_000);
  afterAll(async () => {
    await agent?.stop();
    for (const c of children) if (running(c.pid!)) c.kill('SIGKILL');
    await Promise.all(children.map(exited));
    await w?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('SIGKILLs a host left by its predecessor that ignores the disconnect and SIGTERM, and spares a reused pid', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'gantry-reap-'));
    dirs.push(cacheDir);
    const flag = join(cacheDir, 'disconnected');
    // a host whose agent died: its IPC channel drops, and it stays anyway
    const stubborn = spawn(
      process.execPath,
      [
        '-e',
        `
      process.on('SIGTERM', () => {});
      process.on('disconnect', () => require('fs').writeFileSync(process.argv[2], 'staying'));
      setInterval(() => {}, 1000);
    `,
        'agent/host/main',
        flag,
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] },
    );
    // an unrelated process that happens to hold a pid a record names
    const bystander = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(stubborn, bystander);
    const records = new HostRecords(join(cacheDir, 'hosts'));
    records.write({ uid: 'uid-stubborn', namespace: 'default', name: 'kv-stubborn', pid: stubborn.pid! });
    records.write({ uid: 'uid-reused', namespace: 'default', name: 'kv-gone', pid: bystander.pid! });
    stubborn.disconnect(); // the predecessor agent is gone
    for (let i = 0; i < 200 && !existsSync(flag); i++) await new Promise((r) => setTimeout(r, 25));
    expect(readFileSync(flag, 'utf8')).toBe('staying'); // it saw the disconnect and did not exit
    expect(running(stubborn.pid!)).toBe(true);

    agent = await startAgent({
      kubeConfig: w.kubeConfig,
      node: 'reap-node',
      natsUrl: w.nats.url,
      cacheDir,
      trustedIssuers: [w.issuer],
      plainHttpRegistries: [w.registry.host],
    });
    // by the time the agent has started, the stray host is gone …
    expect(running(stubborn.pid!)).toBe(false);
    await exited(stubborn);
    expect(stubborn.signalCode).toBe('SIGKILL'); // SIGTERM was not enough
    // … the unrelated process is untouched, and no record is left to act on again
    expect(running(bystander.pid!)).toBe(true);
    expect(records.list()).toEqual([]);
    expect(Object.keys(agent.hosts())).toEqual([]);
  }, 30_000);
});
