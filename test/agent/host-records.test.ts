/**
 * The agent's records of the provider hosts it started (agent/host-records.ts), on their own:
 * files written atomically and private, leftovers of an interrupted write and unreadable
 * records cleared, and reapAll stopping exactly the recorded processes that are still provider
 * hosts — SIGTERM first, SIGKILL for one that ignores it — while a reused pid is spared.
 * test/agent/restart-reap.test.ts shows the agent does this at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostRecords, isProviderHost } from '../../agent/host-records.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'gantry-host-records-'));
  dirs.push(d);
  return join(d, 'hosts');
};
const exited = (p: ChildProcess) => (p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r())));

/** A process whose command line carries the host entry point; `stubborn` ignores SIGTERM. */
async function fakeHost(stubborn: boolean, marker = 'agent/host/main'): Promise<ChildProcess> {
  const p = spawn(process.execPath, ['-e', `${stubborn ? "process.on('SIGTERM', () => {});" : ''} process.send('up'); setInterval(() => {}, 1000);`, marker], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  children.push(p);
  await new Promise((r) => p.once('message', r)); // its handlers are installed
  p.disconnect();
  return p;
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map(exited));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('HostRecords', () => {
  it('writes one private record per instance uid, rewrites it in place, lists and removes it', () => {
    const d = dir();
    const r = new HostRecords(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
    r.write({ uid: 'u/1', namespace: 'apps', name: 'kv-1', pid: 11 });
    r.write({ uid: 'u/1', namespace: 'apps', name: 'kv-1', pid: 12 });
    r.write({ uid: 'u2', namespace: 'apps', name: 'kv-2', pid: 13 });
    expect(readdirSync(d).sort()).toEqual(['u2.json', 'u_1.json']); // a uid cannot name a path
    expect(statSync(join(d, 'u2.json')).mode & 0o777).toBe(0o600);
    const listed = r.list().sort((a, b) => a.pid - b.pid);
    expect(listed.map(({ uid, namespace, name, pid }) => ({ uid, namespace, name, pid }))).toEqual([
      { uid: 'u/1', namespace: 'apps', name: 'kv-1', pid: 12 },
      { uid: 'u2', namespace: 'apps', name: 'kv-2', pid: 13 },
    ]);
    expect(Date.parse(listed[0].recordedAt)).toBeGreaterThan(Date.now() - 60_000);
    r.remove('u/1');
    expect(r.list().map((x) => x.uid)).toEqual(['u2']);
  });

  it('clears what an interrupted write or a damaged file left, and skips records without a pid', () => {
    const d = dir();
    const r = new HostRecords(d);
    writeFileSync(join(d, 'half.json.123.tmp'), '{"uid":');
    writeFileSync(join(d, 'broken.json'), 'not json');
    writeFileSync(join(d, 'nopid.json'), JSON.stringify({ uid: 'x' }));
    writeFileSync(join(d, 'notes.txt'), 'kept');
    expect(r.list()).toEqual([]);
    expect(readdirSync(d).sort()).toEqual(['nopid.json', 'notes.txt']);
  });

  it('tells a provider host from an unrelated process by its command line', async () => {
    const host = await fakeHost(false);
    const other = await fakeHost(false, 'something/else');
    expect(isProviderHost(host.pid!)).toBe(true);
    expect(isProviderHost(other.pid!)).toBe(false);
    expect(isProviderHost(2 ** 22 + 1)).toBe(false); // above pid_max: no such process
  });

  it('reapAll stops recorded hosts (SIGTERM, then SIGKILL after the grace), spares a reused pid, and forgets every record', async () => {
    const d = dir();
    const r = new HostRecords(d);
    const polite = await fakeHost(false);
    const stubborn = await fakeHost(true);
    const reused = await fakeHost(false, 'not/a/host');
    r.write({ uid: 'polite', namespace: 'apps', name: 'p', pid: polite.pid! });
    r.write({ uid: 'stubborn', namespace: 'apps', name: 's', pid: stubborn.pid! });
    r.write({ uid: 'reused', namespace: 'apps', name: 'r', pid: reused.pid! });
    r.write({ uid: 'gone', namespace: 'apps', name: 'g', pid: 2 ** 22 + 1 });
    const reaped = await r.reapAll(300);
    expect(reaped.map((x) => x.uid).sort()).toEqual(['polite', 'stubborn']);
    await Promise.all([exited(polite), exited(stubborn)]);
    expect(polite.signalCode).toBe('SIGTERM');
    expect(stubborn.signalCode).toBe('SIGKILL');
    expect(reused.exitCode === null && reused.signalCode === null).toBe(true);
    expect(r.list()).toEqual([]);
    expect(existsSync(join(d, 'reused.json'))).toBe(false);
  });

  it('reapAll with nothing recorded returns at once', async () => {
    const r = new HostRecords(dir());
    expect(await r.reapAll()).toEqual([]);
  });
});
