/**
 * Per-instance memory caps as real cgroups: the pure decisions (the filesystem side is
 * memory-cgroup-dir.ts). Given a writable cgroup directory (`--host-cgroup DIR`), every host
 * process runs in a child cgroup of its own whose limit is its instance's resources.memory, so
 * the kernel refuses (and OOM-kills) an allocation past it the moment it happens, where the RSS
 * poll (supervisor.ts) only sees it up to memoryCheckMs later.
 *
 * Here: which cgroup version a directory is (its filesystem type), what makes it unusable as a
 * parent, which limit files to write with which values, the child's name, and how many times
 * the kernel's OOM killer fired in a child (v1 memory.oom_control / v2 memory.events).
 */

export type CgroupVersion = 'v1' | 'v2';

/** statfs f_type of a cgroup v1 hierarchy (CGROUP_SUPER_MAGIC) and of cgroup2 (CGROUP2_SUPER_MAGIC). */
export const CGROUP_V1_MAGIC = 0x27e0eb;
export const CGROUP_V2_MAGIC = 0x63677270;

/** Limits are whole pages (the kernel keeps pages, and reads a limit back in them). */
export const PAGE_BYTES = 4096;

/** The cgroup version of a directory from its filesystem type, or undefined when it is no cgroup. */
export function cgroupVersionOf(fsType: number): CgroupVersion | undefined {
  if (fsType === CGROUP_V1_MAGIC) return 'v1';
  if (fsType === CGROUP_V2_MAGIC) return 'v2';
  return undefined;
}

/** What a cgroup directory holds that decides whether hosts can be capped under it. */
export interface ParentFacts {
  version: CgroupVersion;
  /** The directory's file names. */
  files: readonly string[];
  /** v2: the text of cgroup.subtree_control (the controllers its children get). */
  subtreeControl?: string;
}

/** Why `dir` cannot hold capped hosts, or undefined when it can (the memory controller reaches its children). */
export function parentProblem(dir: string, f: ParentFacts): string | undefined {
  if (f.version === 'v1') {
    if (f.files.includes('memory.limit_in_bytes')) return undefined;
    return `${dir} is a cgroup v1 directory outside the memory hierarchy (no memory.limit_in_bytes); give a directory under the memory controller's mount, e.g. /sys/fs/cgroup/memory/gantry-hosts`;
  }
  // Stryker disable next-line Regex: /\s/ only adds empty entries between doubled spaces, which includes() ignores
  const controllers = String(f.subtreeControl).split(/\s+/);
  if (controllers.includes('memory')) return undefined;
  return `${dir} is a cgroup v2 directory whose children get no memory controller (cgroup.subtree_control: "${(f.subtreeControl ?? '').trim()}"); enable it with: echo +memory > ${dir}/cgroup.subtree_control`;
}

/** The limit in bytes a host's cgroup gets for resources.memory: whole pages, rounded up (the host gets at least what it was given). */
export function cgroupLimitBytes(memoryBytes: number): number {
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < PAGE_BYTES)
    throw new RangeError(`a memory cgroup limit must be a whole number of bytes of at least one page (${PAGE_BYTES}), not ${memoryBytes}`);
  return Math.ceil(memoryBytes / PAGE_BYTES) * PAGE_BYTES;
}

/**
 * The files to write in a new host cgroup, in order. v1: the memory limit, then memory+swap to
 * the same value when swap is accounted (a host must not dodge its cap by swapping; memsw may
 * not be set below the memory limit, so it comes second). v2: memory.max; no swap at all when
 * the controller offers memory.swap.max; memory.oom.group so a host that forked is killed whole.
 */
export function limitWrites(version: CgroupVersion, limitBytes: number, files: ReadonlySet<string>): Array<[string, string]> {
  const n = String(limitBytes);
  if (version === 'v1') {
    const writes: Array<[string, string]> = [[limitFile(version), n]];
    if (files.has('memory.memsw.limit_in_bytes')) writes.push(['memory.memsw.limit_in_bytes', n]);
    return writes;
  }
  const writes: Array<[string, string]> = [[limitFile(version), n]];
  if (files.has('memory.swap.max')) writes.push(['memory.swap.max', '0']);
  if (files.has('memory.oom.group')) writes.push(['memory.oom.group', '1']);
  return writes;
}

/** The file that holds a cgroup's memory limit. */
export function limitFile(version: CgroupVersion): string {
  return version === 'v1' ? 'memory.limit_in_bytes' : 'memory.max';
}

/** The file whose `oom_kill N` line counts the kernel's OOM kills in a cgroup. */
export function oomEventsFile(version: CgroupVersion): string {
  return version === 'v1' ? 'memory.oom_control' : 'memory.events';
}

/** The file with the most memory the cgroup ever used (bytes), for the OOM message. */
export function peakFile(version: CgroupVersion): string {
  return version === 'v1' ? 'memory.max_usage_in_bytes' : 'memory.peak';
}

/**
 * The `oom_kill` count in memory.oom_control (v1: "oom_kill_disable 0\nunder_oom 0\noom_kill 1")
 * or memory.events (v2: "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n…"), or undefined when the
 * kernel does not report it (v1 before Linux 4.13).
 */
export function parseOomKills(text: string): number | undefined {
  for (const line of text.split('\n')) {
    const [key, value, ...rest] = line.trim().split(/\s+/);
    if (key !== 'oom_kill' || rest.length) continue;
    if (!/^[0-9]+$/.test(String(value))) return undefined;
    return Number(value);
  }
  return undefined;
}

/** Kubernetes names (DNS labels and subdomains): no `_`, nothing that could leave the parent directory. */
const NAME = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;

/**
 * The child cgroup of one host incarnation: `<node>_<namespace>_<instance>_<pid>`. No
 * Kubernetes name has a `_`, so the parts never blur; the node prefix keeps agents of nodes that
 * share one directory (several kubelets on one host) out of each other's children; the pid
 * makes each incarnation's cgroup its own, so a restarted host never meets its predecessor's
 * counters or a cgroup still being removed.
 */
export function hostCgroupName(node: string, namespace: string, instance: string, pid: number): string {
  if (!NAME.test(node)) throw new RangeError(`not a node name: "${node}"`);
  if (!NAME.test(namespace) || namespace.includes('.')) throw new RangeError(`not a namespace name: "${namespace}"`);
  if (!NAME.test(instance)) throw new RangeError(`not an instance name: "${instance}"`);
  if (!Number.isSafeInteger(pid) || pid < 1) throw new RangeError(`not a process id: ${pid}`);
  return `${nodePrefix(node)}${namespace}_${instance}_${pid}`;
}

/** What every child cgroup of `node`'s agent starts with (its sweep removes only these). */
export function nodePrefix(node: string): string {
  return `${node}_`;
}

/** The pids in a cgroup.procs file's text. */
export function parseProcs(text: string): number[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}
