/**
 * The filesystem side of per-host memory cgroups (the decisions are in memory-cgroup.ts).
 *
 * MemoryCgroupParent.open(DIR) checks `--host-cgroup DIR` once at agent start and refuses it
 * with a specific usage error (missing, not a cgroup, no memory controller, not writable: a
 * probe child is made and removed) rather than falling back silently. place() makes one host
 * incarnation's child cgroup, writes its limit, reads it back and moves the host's pid into
 * it. The supervisor calls it after the host process exists and before it is sent its spec,
 * and a host loads no library and runs no provider code before its spec arrives: everything the
 * provider allocates is charged to the child from the first byte. (Pages the process touched
 * before the move stay charged where they were: the Node.js runtime's boot, not the provider.)
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, rmdirSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { UsageError } from '../../runtime/errors.js';
import { HostError } from './errors.js';
import {
  type CgroupVersion,
  cgroupLimitBytes,
  cgroupVersionOf,
  hostCgroupName,
  limitFile,
  limitWrites,
  nodePrefix,
  oomEventsFile,
  parentProblem,
  parseOomKills,
  parseProcs,
  peakFile,
} from './memory-cgroup.js';

/** How long remove() waits for processes a host left in its cgroup (killed) to be gone. */
const REMOVE_WAIT_MS = 5000;

const errno = (e: unknown) => (e as NodeJS.ErrnoException).code;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

export class MemoryCgroupParent {
  private constructor(
    readonly dir: string,
    readonly version: CgroupVersion,
    /** The node whose agent this is: its children's prefix (memory-cgroup.ts hostCgroupName). */
    readonly node: string,
  ) {}

  /** Check `--host-cgroup DIR` (usage errors, exit 2) and return the parent `node`'s hosts' cgroups go under. */
  static open(flagValue: string, node: string): MemoryCgroupParent {
    const dir = resolve(flagValue);
    const flag = `--host-cgroup ${flagValue}`;
    let isDir: boolean;
    try {
      isDir = statSync(dir).isDirectory();
    } catch (e) {
      throw new UsageError(
        'AGENT_HOST_CGROUP_MISSING',
        `${flag}: ${errno(e) === 'ENOENT' ? 'no such directory' : (e as Error).message}; create it (e.g. mkdir /sys/fs/cgroup/memory/gantry-hosts, see docs/agent.md) or leave the flag out to cap hosts by RSS polling`,
      );
    }
    if (!isDir) throw new UsageError('AGENT_HOST_CGROUP_MISSING', `${flag}: not a directory`);
    const type = statfsSync(dir).type;
    const version = cgroupVersionOf(type);
    if (!version)
      throw new UsageError('AGENT_HOST_CGROUP_NOT_CGROUP', `${flag}: not in a cgroup filesystem (statfs type 0x${type.toString(16)})`);
    const files = readdirSync(dir);
    const subtreeControl = version === 'v2' ? readFileSync(join(dir, 'cgroup.subtree_control'), 'utf8') : undefined;
    const problem = parentProblem(dir, { version, files, subtreeControl });
    if (problem) throw new UsageError('AGENT_HOST_CGROUP_NO_MEMORY', `${flag}: ${problem}`);
    const parent = new MemoryCgroupParent(dir, version, node);
    parent.probe(flag);
    return parent;
  }

  /** A child made, its limit and cgroup.procs writable by this agent, removed again. */
  private probe(flag: string): void {
    const path = join(this.dir, `${nodePrefix(this.node)}probe_${process.pid}`);
    const uid = process.getuid?.();
    try {
      mkdirSync(path);
    } catch (e) {
      if (errno(e) === 'EEXIST') return this.probeExisting(path, flag);
      throw new UsageError(
        'AGENT_HOST_CGROUP_NOT_WRITABLE',
        `${flag}: this agent (uid ${uid}) cannot create cgroups in it: ${(e as Error).message} (a read-only mount, or a directory not delegated to this user; see docs/agent.md)`,
      );
    }
    this.probeExisting(path, flag);
  }

  private probeExisting(path: string, flag: string): void {
    try {
      for (const f of ['cgroup.procs', limitFile(this.version)]) accessSync(join(path, f), constants.W_OK);
    } catch (e) {
      throw new UsageError(
        'AGENT_HOST_CGROUP_NOT_WRITABLE',
        `${flag}: a child cgroup's files are not writable by this agent: ${(e as Error).message}`,
      );
    } finally {
      rmdirSync(path);
    }
  }

  /** What enforces memory limits, for the startup log line. */
  describe(): string {
    return `memory cgroup ${this.version} under ${this.dir}`;
  }

  /**
   * Remove the empty host cgroups an earlier agent of this node left (its hosts are reaped by
   * then: a child with a process in it is kept, EBUSY). Other nodes' children are not touched.
   * Returns the names removed.
   */
  sweep(): string[] {
    const removed: string[] = [];
    for (const entry of readdirSync(this.dir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !entry.name.startsWith(nodePrefix(this.node))) continue;
      try {
        rmdirSync(join(this.dir, entry.name));
        removed.push(entry.name);
      } catch {
        /* still has processes (or not ours): left alone */
      }
    }
    return removed;
  }

  /**
   * Make the child cgroup of one host incarnation, limited to memoryBytes, and move pid into
   * it. Any failure removes the child and throws MEMORY_CGROUP_FAILED: the host never runs
   * unlimited.
   */
  place(namespace: string, instance: string, pid: number, memoryBytes: number): HostMemoryCgroup {
    const what = `host of ${namespace}/${instance} (pid ${pid})`;
    let path: string;
    let limit: number;
    try {
      path = join(this.dir, hostCgroupName(this.node, namespace, instance, pid));
      limit = cgroupLimitBytes(memoryBytes);
      mkdirSync(path);
    } catch (e) {
      throw new HostError('MEMORY_CGROUP_FAILED', `cannot make a memory cgroup for the ${what}: ${(e as Error).message}`);
    }
    try {
      const writes = limitWrites(this.version, limit, new Set(readdirSync(path)));
      for (const [file, value] of writes) writeFileSync(join(path, file), value);
      const file = limitFile(this.version);
      const took = readFileSync(join(path, file), 'utf8').trim();
      if (took !== String(limit)) throw new Error(`${file} reads ${took} after writing ${limit}`);
      writeFileSync(join(path, 'cgroup.procs'), String(pid));
    } catch (e) {
      try {
        rmdirSync(path);
      } catch {
        /* the sweep at the next start removes it */
      }
      throw new HostError('MEMORY_CGROUP_FAILED', `cannot limit the ${what} in memory cgroup ${path}: ${(e as Error).message}`);
    }
    return new HostMemoryCgroup(path, this.version, limit);
  }
}

/** One host incarnation's cgroup: what the kernel counted, and its removal once the host exited. */
export class HostMemoryCgroup {
  constructor(
    readonly path: string,
    readonly version: CgroupVersion,
    readonly limitBytes: number,
  ) {}

  /** How many times the kernel's OOM killer fired in this cgroup (undefined: not reported, or gone). */
  oomKills(): number | undefined {
    try {
      return parseOomKills(readFileSync(join(this.path, oomEventsFile(this.version)), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** The most memory the cgroup used, in bytes (undefined when the kernel has no such file). */
  peakBytes(): number | undefined {
    try {
      return Number(readFileSync(join(this.path, peakFile(this.version)), 'utf8').trim());
    } catch {
      return undefined;
    }
  }

  /** Why the host died, when the kernel's OOM killer killed it; undefined otherwise. */
  oomMessage(instanceKey: string): string | undefined {
    const kills = this.oomKills();
    if (!kills) return undefined;
    const peak = this.peakBytes();
    return (
      `the kernel's OOM killer ended the host of ${instanceKey} at its memory cgroup's limit of ${mib(this.limitBytes)} MiB ` +
      `(resources.memory)${peak === undefined ? '' : `, peak ${mib(peak)} MiB`}; oom_kill ${kills} in ${this.path}`
    );
  }

  /**
   * Remove the cgroup once its host exited. A process the host left behind (a fork) is killed
   * first: the instance is gone. Waits only while the cgroup still holds processes, at most 5 s.
   */
  async remove(): Promise<void> {
    const deadline = Date.now() + REMOVE_WAIT_MS;
    for (;;) {
      try {
        rmdirSync(this.path);
        return;
      } catch (e) {
        if (errno(e) === 'ENOENT') return;
        if (errno(e) !== 'EBUSY' || Date.now() > deadline) throw e;
      }
      for (const pid of this.procs()) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await sleep(20);
    }
  }

  private procs(): number[] {
    try {
      return parseProcs(readFileSync(join(this.path, 'cgroup.procs'), 'utf8'));
    } catch {
      return [];
    }
  }
}
