/**
 * Which provider host processes this agent started, kept on disk so that an agent that
 * restarts (crash, upgrade, SIGKILL) never ends up with two hosts for one instance.
 *
 * One small JSON file per instance uid under `<cacheDir>/hosts/`, rewritten (temp + rename)
 * whenever the host's pid changes. On start the agent reaps every recorded host still alive
 * — after checking that the pid really is a Gantry provider host, since pids get reused —
 * before it starts anything, and then lets the reconciler start fresh hosts for the
 * instances it should run. A restarted host loses only in-memory provider state; a doubled
 * one would split traffic and state, which is worse.
 *
 * A pid is recorded the tick its host is forked (before it is ready), and every host also
 * carries GANTRY_HOST_RECORDS=<this dir> in its environment: reapAll stops the processes
 * carrying it too (Linux /proc), so even a host forked in the instant before its record was
 * written, by an agent SIGKILLed in that instant, is found. (A host whose agent dies also
 * exits by itself when its IPC channel closes — agent/host/main.ts — unless it is stuck.)
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processesMarked } from '../runtime/marked-processes.js';
import { kubeTime } from '../runtime/toolkit/time.js';

/** The environment variable that marks a host as started by the agent owning this records dir. */
export const HOST_RECORDS_ENV = 'GANTRY_HOST_RECORDS';

export interface HostRecord {
  uid: string;
  namespace: string;
  name: string;
  pid: number;
  recordedAt: string;
}

/** Marker in a host's command line that tells it apart from an unrelated process with a reused pid. */
const hostEntryMarker = 'agent/host/main';

export class HostRecords {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /** The environment a host started under these records carries. */
  markerEnv(): Record<string, string> {
    return { [HOST_RECORDS_ENV]: this.dir };
  }

  private file(uid: string): string {
    return join(this.dir, `${uid.replace(/[^A-Za-z0-9_-]/g, '_')}.json`);
  }

  write(r: Omit<HostRecord, 'recordedAt'>): void {
    const f = this.file(r.uid);
    const tmp = `${f}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ ...r, recordedAt: kubeTime() }), { mode: 0o600 });
    renameSync(tmp, f);
  }

  remove(uid: string): void {
    rmSync(this.file(uid), { force: true });
  }

  list(): HostRecord[] {
    const out: HostRecord[] = [];
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith('.json')) {
        // force only matters if another process removes the file between the listing and here
        // Stryker disable next-line ObjectLiteral,BooleanLiteral: the file was just listed
        if (f.endsWith('.tmp')) rmSync(join(this.dir, f), { force: true });
        continue;
      }
      try {
        const r = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as HostRecord;
        if (typeof r.pid === 'number' && typeof r.uid === 'string') out.push(r);
      } catch {
        // force only matters if another process removes the file between the read and here
        // Stryker disable next-line ObjectLiteral,BooleanLiteral: the file was just read
        rmSync(join(this.dir, f), { force: true });
      }
    }
    return out;
  }

  /**
   * Stop every recorded host that is still running (SIGTERM, then SIGKILL after graceMs) and
   * forget all records. Returns the records whose process was found alive.
   */
  async reapAll(graceMs = 3_000): Promise<HostRecord[]> {
    const alive = this.list().filter((r) => isProviderHost(r.pid));
    for (const pid of markedHosts(this.dir)) {
      if (!alive.some((r) => r.pid === pid)) alive.push({ uid: '', namespace: '', name: '(unrecorded)', pid, recordedAt: '' });
    }
    for (const r of alive) signal(r.pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (alive.some((r) => isAlive(r.pid)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    // SIGKILL to a pid already gone fails quietly; the check only matters if the pid is reused in the same instant
    // Stryker disable next-line ConditionalExpression: a guard against pid reuse (above)
    for (const r of alive) if (isAlive(r.pid)) signal(r.pid, 'SIGKILL');
    const killDeadline = Date.now() + 2_000;
    while (alive.some((r) => isAlive(r.pid)) && Date.now() < killDeadline) await new Promise((res) => setTimeout(res, 20));
    for (const r of this.list()) this.remove(r.uid);
    return alive;
  }
}

/** Live processes (not this one) whose environment carries the marker for `dir`; [] without /proc. */
function markedHosts(dir: string): number[] {
  // a zombie's environment cannot be read, so processesMarked never lists one
  // Stryker disable next-line MethodExpression: the filter is a guard (above)
  return processesMarked(HOST_RECORDS_ENV, dir).filter(isAlive);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie still answers signal 0; it is dead for our purposes
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    // Stryker disable next-line BlockStatement,BooleanLiteral: only where there is no /proc (macOS), which CI does not run on
  } catch {
    // Stryker disable next-line BooleanLiteral: only where there is no /proc (macOS)
    return true;
  }
}

/** True when pid is alive and its command line is a Gantry provider host. */
export function isProviderHost(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(hostEntryMarker);
    // Stryker disable next-line BlockStatement: only where there is no /proc (macOS), which CI does not run on
  } catch {
    // no /proc (macOS): trust the record
    // Stryker disable next-line BooleanLiteral: only where there is no /proc (macOS)
    return true;
  }
}
