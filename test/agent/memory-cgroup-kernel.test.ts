/**
 * Memory caps as real cgroups, attacked on this machine's kernel (root, cgroup v1 memory at
 * /sys/fs/cgroup/memory): a real provider host of the `faulty` provider allocates and touches
 * far past its cap in one call, faster than any poll, with the RSS poll off. The kernel stops
 * the allocation before it lands (the call never gets its reply), kills the host, the
 * supervisor reports OOM_KILLED with the cgroup's oom_kill count, removes the cgroup and
 * restarts the host in a fresh one. A host whose cgroup cannot be made never runs; a
 * --host-cgroup that cannot serve is refused with its own error.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CrashInfo } from '../../agent/host/index.js';
import { MemoryCgroupParent } from '../../agent/host/memory-cgroup-dir.js';
import { callProvider } from '../../client/call.js';
import { NS, callError, makeHost, nextEvent, providerLib, startError, text, useHostWorld } from '../host/helpers.js';

const MEMORY_ROOT = '/sys/fs/cgroup/memory';
const usable = process.getuid?.() === 0 && existsSync(join(MEMORY_ROOT, 'memory.limit_in_bytes'));
if (!usable) console.warn(`memory-cgroup-kernel: skipped (needs root and cgroup v1 memory at ${MEMORY_ROOT})`);

const MiB = 2 ** 20;
const world = useHostWorld();
// a private parent for this file, removed after it (the test fails if a host's cgroup is left in it)
const parentDir = join(MEMORY_ROOT, `gantry-test-${process.pid}`);

beforeAll(() => {
  if (usable) mkdirSync(parentDir);
});
afterAll(() => {
  if (usable && existsSync(parentDir)) rmdirSync(parentDir);
});

const faulty = (instance: string, parent: MemoryCgroupParent, limit: number) =>
  makeHost(
    world.nats.url,
    { provider: 'faulty', instance, libraryPath: providerLib('faulty'), expectedCapid: 'gantry:faulty' },
    { backoff: { initialMs: 200, maxMs: 2000, resetAfterMs: 60_000 }, memoryLimitBytes: limit, memoryCheckMs: 0, memoryCgroup: parent },
  );
const call = (instance: string, op: string, data = '', timeoutMs = 5000) =>
  callProvider(world.nc, { namespace: NS, provider: 'faulty', instance, op, data, timeoutMs });
const childCgroups = () =>
  readdirSync(parentDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name);
const memoryCgroupOf = (pid: number) => /^\d+:memory:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];

describe.skipIf(!usable)('a host in its own memory cgroup', () => {
  it('a burst far past the cap is stopped by the kernel before it lands, reported OOM_KILLED with the oom_kill count; the cgroup is removed', async () => {
    const parent = MemoryCgroupParent.open(parentDir, 'node-k');
    expect(parent.version).toBe('v1');
    const host = faulty('burst-0', parent, 96 * MiB);
    await host.start();
    const pid = host.pid as number;
    const cgroup = join(parentDir, `node-k_${NS}_burst-0_${pid}`);
    // the host runs in its own child, limited to resources.memory (and memory+swap the same)
    expect(memoryCgroupOf(pid)).toBe(`/gantry-test-${process.pid}/node-k_${NS}_burst-0_${pid}`);
    expect(readFileSync(join(cgroup, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(96 * MiB));
    expect(readFileSync(join(cgroup, 'memory.memsw.limit_in_bytes'), 'utf8').trim()).toBe(String(96 * MiB));
    // under the cap: fine
    expect(text((await call('burst-0', 'Leak', JSON.stringify({ bytes: 16 * MiB }))).reply)).toBe(`leaked ${16 * MiB}`);

    const crashed = nextEvent<CrashInfo>(host, 'crash');
    const back = nextEvent(host, 'ready');
    // 512 MiB malloc'd and touched in one call: the RSS poll is off (memoryCheckMs 0), and no poll
    // could have stopped it anyway; the kernel refuses the page past the cap, so no reply comes
    const lost = await callError(call('burst-0', 'Leak', JSON.stringify({ bytes: 512 * MiB }), 3000));
    expect(['TIMEOUT', 'NO_RESPONDERS']).toContain(lost.code);
    const crash = await crashed;
    expect(crash.signal).toBe('SIGKILL');
    expect(crash.error?.code).toBe('OOM_KILLED');
    expect(crash.error?.message).toMatch(
      new RegExp(
        `^the kernel's OOM killer ended the host of ${NS}/burst-0 at its memory cgroup's limit of 96 MiB \\(resources.memory\\), peak (\\d+) MiB; oom_kill 1 in ${cgroup}$`,
      ),
    );
    const peak = Number(/peak (\d+) MiB/.exec(crash.error?.message ?? '')?.[1]);
    expect(peak).toBeLessThanOrEqual(96);
    // removed by the time the crash is reported (the host had no process left in it)
    expect(existsSync(cgroup)).toBe(false);

    // restarted in a fresh cgroup of its own, serving again
    await back;
    const again = host.pid as number;
    expect(again).not.toBe(pid);
    expect(memoryCgroupOf(again)).toBe(`/gantry-test-${process.pid}/node-k_${NS}_burst-0_${again}`);
    expect(text((await call('burst-0', 'Ok')).reply)).toBe('ok');
    await host.stop();
    expect(childCgroups()).toEqual([]); // stopped: its cgroup went with it
  });

  it('a host whose cgroup cannot be made is killed before it loads its library (MEMORY_CGROUP_FAILED), never run unlimited', async () => {
    const gone = join(parentDir, 'gone');
    mkdirSync(gone);
    const parent = MemoryCgroupParent.open(gone, 'node-k');
    rmdirSync(gone); // the directory vanishes after the agent checked it
    const host = faulty('uncapped-0', parent, 96 * MiB);
    const spawned = nextEvent<number>(host, 'spawned');
    const err = await startError(host);
    expect(err.code).toBe('MEMORY_CGROUP_FAILED');
    expect(err.message).toMatch(`cannot make a memory cgroup for the host of ${NS}/uncapped-0 (pid ${await spawned}): ENOENT`);
    expect(host.state).toBe('failed');
    // it never served: nothing answers for the instance
    expect((await callError(call('uncapped-0', 'Ok', '', 1000))).code).toMatch(/NO_RESPONDERS|TIMEOUT/);
  });
});

describe.skipIf(!usable)('the startup sweep', () => {
  it("removes its own node's empty leftovers only: a child with a process in it and other nodes' children stay", async () => {
    for (const name of ['node-k_default_old-0_11', 'node-k_default_busy-0_12', 'node-k2_default_x-0_13', 'other_default_y-0_14'])
      mkdirSync(join(parentDir, name));
    const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
    writeFileSync(join(parentDir, 'node-k_default_busy-0_12', 'cgroup.procs'), String(sleeper.pid));
    try {
      expect(MemoryCgroupParent.open(parentDir, 'node-k').sweep()).toEqual(['node-k_default_old-0_11']);
      expect(childCgroups().sort()).toEqual(['node-k2_default_x-0_13', 'node-k_default_busy-0_12', 'other_default_y-0_14']);
    } finally {
      const exited = new Promise((r) => sleeper.once('exit', r));
      sleeper.kill('SIGKILL');
      await exited;
      for (const name of childCgroups()) rmdirSync(join(parentDir, name));
    }
  });
});

describe.skipIf(!usable)('--host-cgroup that cannot serve', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'gantry-host-cgroup-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const refusal = (dir: string) => {
    try {
      MemoryCgroupParent.open(dir, 'node-k');
    } catch (e) {
      return e as Error & { code: string; usage: boolean };
    }
    throw new Error(`expected ${dir} to be refused`);
  };

  it('is refused when missing, not a directory, or not a cgroup', () => {
    const missing = refusal(join(scratch, 'nope'));
    expect([missing.code, missing.usage]).toEqual(['AGENT_HOST_CGROUP_MISSING', true]);
    expect(missing.message).toMatch(/--host-cgroup .*nope: no such directory; create it/);
    writeFileSync(join(scratch, 'file'), '');
    expect(refusal(join(scratch, 'file')).message).toMatch(/--host-cgroup .*file: not a directory/);
    const plain = refusal(scratch);
    expect(plain.code).toBe('AGENT_HOST_CGROUP_NOT_CGROUP');
    expect(plain.message).toMatch(/not in a cgroup filesystem \(statfs type 0x/);
  });

  it('is refused without the memory controller: a v1 hierarchy of another controller, a v2 directory without +memory', () => {
    const cpu = refusal('/sys/fs/cgroup/cpu');
    expect(cpu.code).toBe('AGENT_HOST_CGROUP_NO_MEMORY');
    expect(cpu.message).toMatch(/cgroup v1 directory outside the memory hierarchy/);
    // this machine's cgroup2 mount has no memory controller (v1 holds it): exactly the refused case
    const unified = refusal('/sys/fs/cgroup/unified');
    expect(unified.code).toBe('AGENT_HOST_CGROUP_NO_MEMORY');
    expect(unified.message).toMatch(
      /cgroup v2 directory whose children get no memory controller .*echo \+memory > \/sys\/fs\/cgroup\/unified\/cgroup.subtree_control/,
    );
  });

  it('is refused when mounted read-only (as runc mounts /sys/fs/cgroup into an unprivileged container)', () => {
    const ro = join(scratch, 'ro');
    mkdirSync(ro);
    execFileSync('mount', ['--bind', parentDir, ro]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', ro]);
      const e = refusal(ro);
      expect(e.code).toBe('AGENT_HOST_CGROUP_NOT_WRITABLE');
      expect(e.message).toMatch(/this agent \(uid 0\) cannot create cgroups in it: EROFS/);
    } finally {
      execFileSync('umount', [ro]);
    }
  });
});
