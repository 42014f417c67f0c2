/**
 * The agent's records of the provider hosts it started (agent/host-records.ts), on their own:
 * files written atomically and private, leftovers of an interrupted write and unreadable
 * records cleared, and reapAll stopping exactly the recorded processes that are still provider
 * hosts — SIGTERM first, SIGKILL for one that ignores it — while a reused pid is spared.
 * test/agent/restart-reap.test.ts shows the agent does this at start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HOST_RECORDS_ENV, HostRecords, isProviderHost } from '../../agent/host-records.js';

const dirs: string[] = [];
const children: ChildProcess[] = [];
const dir = () => {
  const d = mkdtempSync(join(tmpdir(), 'gantry-host-records-'));
  dirs.push(d);
  return join(d, 'hosts');
};
const exited = (p: ChildProcess) =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r()));

/** A process whose command line carries the host entry point; `stubborn` ignores SIGTERM. */
async function fakeHost(stubborn: boolean, marker = 'agent/host/main'): Promise<ChildProcess> {
  const p = spawn(
    process.execPath,
    ['-e', `${stubborn ? "process.on('SIGTERM', () => {});" : ''} process.send('up'); setInterval(() => {}, 1000);`, marker],
    { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] },
  );
  children.push(p);
  await new Promise((r) => p.once('message', r)); // its handlers are installed
  p.disconnect();
  return p;
}

/** A host that, on SIGTERM, finishes its work for `cleanupMs` and exits 0; with `env`, marked as started under some records. */
async function gracefulHost(cleanupMs: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  const p = spawn(
    process.execPath,
    [
      '-e',
      `process.on('SIGTERM', () => setTimeout(() => process.exit(0), ${cleanupMs})); process.send('up'); setInterval(() => {}, 1000);`,
      'agent/host/main',
    ],
    {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { ...process.env, ...env },
    },
  );
  children.push(p);
  await new Promise((r) => p.once('message', r));
  p.disconnect();
  return p;
}

/** The state letter of a pid (R, S, Z, …), or undefined when there is no such process. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
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

  it('creates its directory with any missing parents', () => {
    const d = join(dir(), 'a', 'b');
    new HostRecords(d).write({ uid: 'u', namespace: 'apps', name: 'n', pid: 1 });
    expect(readdirSync(d)).toEqual(['u.json']);
  });

  it('removing a record that is not there is no error (a host can exit twice over)', () => {
    const r = new HostRecords(dir());
    r.remove('never-written');
    expect(r.list()).toEqual([]);
  });

  it('skips a record without a uid', () => {
    const d = dir();
    const r = new HostRecords(d);
    writeFileSync(join(d, 'nouid.json'), JSON.stringify({ pid: 42 }));
    writeFileSync(join(d, 'baduid.json'), JSON.stringify({ pid: 42, uid: 7 }));
    expect(r.list()).toEqual([]);
  });

  it('reapAll gives each host its grace to finish on SIGTERM, however many there are', async () => {
    const r = new HostRecords(dir());
    const quick = await gracefulHost(20);
    const slow = await gracefulHost(400);
    r.write({ uid: 'quick', namespace: 'apps', name: 'q', pid: quick.pid! });
    r.write({ uid: 'slow', namespace: 'apps', name: 's', pid: slow.pid! });
    await r.reapAll(30_000);
    await Promise.all([exited(quick), exited(slow)]);
    // both exited on their own (code 0), neither was SIGKILLed
    expect([quick.exitCode, quick.signalCode, slow.exitCode, slow.signalCode]).toEqual([0, null, 0, null]);
  });

  it('reapAll returns only once a host that ignored SIGTERM is gone', async () => {
    const r = new HostRecords(dir());
    const stubborn = await fakeHost(true);
    r.write({ uid: 'stubborn', namespace: 'apps', name: 's', pid: stubborn.pid! });
    await r.reapAll(100);
    // dead: gone, or a zombie only its parent (this test) has not collected yet
    expect([undefined, 'Z']).toContain(procState(stubborn.pid!));
  });

  it('reapAll finds a host by its environment marker when no record names it, and reports a host both recorded and marked once', async () => {
    const d = dir();
    const r = new HostRecords(d);
    const unrecorded = await gracefulHost(0, r.markerEnv());
    const both = await gracefulHost(0, r.markerEnv());
    const otherAgents = await gracefulHost(0, { [HOST_RECORDS_ENV]: `${d}-another-agent` });
    r.write({ uid: 'both', namespace: 'apps', name: 'b', pid: both.pid! });
    const reaped = await r.reapAll(30_000);
    expect(reaped.map((x) => [x.pid, x.name]).sort()).toEqual(
      [
        [both.pid, 'b'],
        [unrecorded.pid, '(unrecorded)'],
      ].sort(),
    );
    await Promise.all([exited(unrecorded), exited(both)]);
    expect(otherAgents.exitCode === null && otherAgents.signalCode === null).toBe(true);
  });

  it('reapAll counts a host that died but is not yet collected by its parent (a zombie) as gone, and does not wait out its grace', async () => {
    const r = new HostRecords(dir());
    // the host's parent execs into sleep, which never collects it: once it exits it stays a zombie
    const parent = spawn(
      'sh',
      ['-c', `${JSON.stringify(process.execPath)} -e 'setInterval(() => {}, 1000)' agent/host/main & echo $!; exec sleep 600`],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    children.push(parent);
    const pid = Number(await new Promise<string>((res) => parent.stdout!.once('data', (b: Buffer) => res(b.toString()))));
    // until it has exec'd node: the forked shell's own command line names agent/host/main too, and
    // /proc/PID/cmdline reads empty for an instant during the exec, which made reapAll see no host
    const node = realpathSync(process.execPath);
    while (!(exeOf(pid) === node && isProviderHost(pid))) await new Promise((res) => setTimeout(res, 10));
    r.write({ uid: 'zombie', namespace: 'apps', name: 'z', pid });
    // a grace far beyond the test's timeout: only seeing the zombie as gone lets reapAll return
    const reaped = await r.reapAll(10 * 60_000);
    expect(reaped.map((x) => x.pid)).toEqual([pid]);
    expect(procState(pid)).toBe('Z');
    expect(isProviderHost(pid)).toBe(false);
  });
});

/** The executable a process runs ('' once it is gone or while it cannot be read). */
function exeOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}
