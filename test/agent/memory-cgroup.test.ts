/**
 * The pure decisions behind per-host memory cgroups (agent/host/memory-cgroup.ts): which
 * version a directory is, what makes it unusable, which limit files get which values, the
 * OOM-kill count the kernel reports, and the child's name. The kernel's side is
 * memory-cgroup-kernel.test.ts.
 */
import { describe, expect, it } from 'vitest';
import {
  CGROUP_V1_MAGIC,
  CGROUP_V2_MAGIC,
  cgroupLimitBytes,
  cgroupVersionOf,
  hostCgroupName,
  limitFile,
  limitWrites,
  nodePrefix,
  oomEventsFile,
  PAGE_BYTES,
  parentProblem,
  parseOomKills,
  parseProcs,
  peakFile,
} from '../../agent/host/memory-cgroup.js';

describe('cgroupVersionOf', () => {
  it('knows cgroup v1 and cgroup2 by their statfs magic, and nothing else', () => {
    expect(cgroupVersionOf(0x27e0eb)).toBe('v1');
    expect(cgroupVersionOf(0x63677270)).toBe('v2');
    expect(CGROUP_V1_MAGIC).toBe(0x27e0eb);
    expect(CGROUP_V2_MAGIC).toBe(0x63677270);
    expect(cgroupVersionOf(0x01021994)).toBeUndefined(); // tmpfs
    expect(cgroupVersionOf(0xef53)).toBeUndefined(); // ext4
    expect(cgroupVersionOf(0)).toBeUndefined();
  });
});

describe('parentProblem', () => {
  it('takes a v1 directory in the memory hierarchy', () => {
    expect(parentProblem('/m', { version: 'v1', files: ['cgroup.procs', 'memory.limit_in_bytes', 'tasks'] })).toBeUndefined();
  });

  it('refuses a v1 directory of another controller, saying where to look', () => {
    const p = parentProblem('/sys/fs/cgroup/cpu/x', { version: 'v1', files: ['cgroup.procs', 'cpu.shares', 'tasks'] });
    expect(p).toBe(
      "/sys/fs/cgroup/cpu/x is a cgroup v1 directory outside the memory hierarchy (no memory.limit_in_bytes); give a directory under the memory controller's mount, e.g. /sys/fs/cgroup/memory/gantry-hosts",
    );
  });

  it('takes a v2 directory whose children get the memory controller', () => {
    expect(parentProblem('/u', { version: 'v2', files: [], subtreeControl: 'cpu memory pids\n' })).toBeUndefined();
    expect(parentProblem('/u', { version: 'v2', files: [], subtreeControl: 'memory\n' })).toBeUndefined();
  });

  it('refuses a v2 directory without memory in cgroup.subtree_control, with the command that enables it', () => {
    expect(parentProblem('/u', { version: 'v2', files: ['memory.max'], subtreeControl: 'cpu pids\n' })).toBe(
      '/u is a cgroup v2 directory whose children get no memory controller (cgroup.subtree_control: "cpu pids"); enable it with: echo +memory > /u/cgroup.subtree_control',
    );
    // an empty list, a controller merely named like memory, and no file read at all
    expect(parentProblem('/u', { version: 'v2', files: [], subtreeControl: '\n' })).toMatch(/subtree_control: ""\)/);
    expect(parentProblem('/u', { version: 'v2', files: [], subtreeControl: 'memoryx hugetlb' })).toMatch(/no memory controller/);
    expect(parentProblem('/u', { version: 'v2', files: [] })).toMatch(/subtree_control: ""\)/);
  });
});

describe('cgroupLimitBytes', () => {
  it('rounds up to whole pages: the host gets at least its resources.memory', () => {
    expect(PAGE_BYTES).toBe(4096);
    expect(cgroupLimitBytes(4096)).toBe(4096);
    expect(cgroupLimitBytes(4097)).toBe(8192);
    expect(cgroupLimitBytes(8191)).toBe(8192);
    expect(cgroupLimitBytes(96 * 2 ** 20)).toBe(96 * 2 ** 20);
    expect(cgroupLimitBytes(100_000_000)).toBe(100_003_840); // 100M (decimal) is no whole number of pages
  });

  it('refuses less than a page, fractions and numbers past exact integers', () => {
    for (const bad of [0, 1, 4095, -4096, 4096.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])
      expect(() => cgroupLimitBytes(bad)).toThrow(`at least one page (4096), not ${bad}`);
  });
});

describe('limitWrites', () => {
  it('v1: the memory limit, then memory+swap to the same value when swap is accounted', () => {
    const n = 96 * 2 ** 20;
    expect(limitWrites('v1', n, new Set(['memory.limit_in_bytes']))).toEqual([['memory.limit_in_bytes', '100663296']]);
    expect(limitWrites('v1', n, new Set(['memory.limit_in_bytes', 'memory.memsw.limit_in_bytes']))).toEqual([
      ['memory.limit_in_bytes', '100663296'],
      ['memory.memsw.limit_in_bytes', '100663296'],
    ]);
  });

  it('v2: memory.max, no swap, and the OOM killer takes the whole cgroup, each when the kernel offers it', () => {
    expect(limitWrites('v2', 8192, new Set())).toEqual([['memory.max', '8192']]);
    expect(limitWrites('v2', 8192, new Set(['memory.max', 'memory.swap.max', 'memory.oom.group']))).toEqual([
      ['memory.max', '8192'],
      ['memory.swap.max', '0'],
      ['memory.oom.group', '1'],
    ]);
    // v1 names mean nothing to v2 and the other way round
    expect(limitWrites('v2', 8192, new Set(['memory.memsw.limit_in_bytes']))).toEqual([['memory.max', '8192']]);
    expect(limitWrites('v1', 8192, new Set(['memory.swap.max', 'memory.oom.group']))).toEqual([['memory.limit_in_bytes', '8192']]);
  });

  it('names the files read back per version', () => {
    expect([limitFile('v1'), limitFile('v2')]).toEqual(['memory.limit_in_bytes', 'memory.max']);
    expect([oomEventsFile('v1'), oomEventsFile('v2')]).toEqual(['memory.oom_control', 'memory.events']);
    expect([peakFile('v1'), peakFile('v2')]).toEqual(['memory.max_usage_in_bytes', 'memory.peak']);
  });
});

describe('parseOomKills', () => {
  it('reads oom_kill from v1 memory.oom_control', () => {
    expect(parseOomKills('oom_kill_disable 0\nunder_oom 0\noom_kill 1\n')).toBe(1);
    expect(parseOomKills('oom_kill_disable 0\nunder_oom 0\noom_kill 0\n')).toBe(0);
  });

  it('reads oom_kill from v2 memory.events, not the oom or oom_group_kill lines', () => {
    expect(parseOomKills('low 0\nhigh 0\nmax 37\noom 2\noom_kill 3\noom_group_kill 1\n')).toBe(3);
    expect(parseOomKills('oom 5\noom_group_kill 4\noom_kill 12\n')).toBe(12);
  });

  it('is undefined when the kernel does not report it (v1 before 4.13) or the line is not a count', () => {
    expect(parseOomKills('oom_kill_disable 0\nunder_oom 0\n')).toBeUndefined();
    expect(parseOomKills('')).toBeUndefined();
    expect(parseOomKills('oom_kill\n')).toBeUndefined();
    expect(parseOomKills('oom_kill -1\n')).toBeUndefined();
    expect(parseOomKills('oom_kill 1x\n')).toBeUndefined();
    expect(parseOomKills('oom_kill 1 2\noom_kill 7\n')).toBe(7);
    expect(parseOomKills('  oom_kill   4  \n')).toBe(4);
  });
});

describe('hostCgroupName', () => {
  it('is node, namespace, instance and pid, split by a character no Kubernetes name has', () => {
    expect(hostCgroupName('node-a', 'default', 'leaky-0', 4242)).toBe('node-a_default_leaky-0_4242');
    expect(hostCgroupName('n.example.com', 'a', 'b.c', 1)).toBe('n.example.com_a_b.c_1');
    expect(nodePrefix('node-a')).toBe('node-a_');
  });

  it('refuses anything that is not a Kubernetes name or a pid (nothing may leave the parent or blur the parts)', () => {
    for (const node of ['', '..', 'a/b', 'a_b', 'A', '-a', 'a-', '.a'])
      expect(() => hostCgroupName(node, 'ns', 'x', 1)).toThrow(`not a node name: "${node}"`);
    for (const ns of ['', '..', 'a/b', 'a.b', 'a_b', 'A', '-a', 'a-', 'a b'])
      expect(() => hostCgroupName('n', ns, 'x', 1)).toThrow(`not a namespace name: "${ns}"`);
    for (const name of ['', '..', '../x', 'x/y', '.x', 'x.', 'X', 'x_y'])
      expect(() => hostCgroupName('n', 'ns', name, 1)).toThrow(`not an instance name: "${name}"`);
    for (const pid of [0, -1, 1.5, Number.NaN]) expect(() => hostCgroupName('n', 'ns', 'x', pid)).toThrow(`not a process id: ${pid}`);
    expect(hostCgroupName('n', 'ns', 'x', 2 ** 22)).toBe('n_ns_x_4194304');
    expect(hostCgroupName('0', '1', '2', 3)).toBe('0_1_2_3');
  });
});

describe('parseProcs', () => {
  it('reads cgroup.procs, one pid a line', () => {
    expect(parseProcs('')).toEqual([]);
    expect(parseProcs('12\n345\n')).toEqual([12, 345]);
    expect(parseProcs('\n  \n7')).toEqual([7]);
  });
});
