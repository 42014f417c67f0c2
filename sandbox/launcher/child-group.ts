/**
 * Every process a sandbox launcher starts, as one killable set. A child joins it at exec:
 * ManagedProcess puts the marker GANTRY_SANDBOX=<state dir> into its environment and calls
 * `spawned()` in the same tick as spawn(), before any readiness wait, so
 *
 *   - run.json names a child from the moment it exists (record at spawn, not at ready), and
 *   - even a launcher SIGKILLed between fork and that write leaves nothing unfindable: the
 *     next `up` (or `down`) finds every process whose environment carries the marker —
 *     children and what they start in turn (provider hosts inherit the agent's environment) —
 *     in /proc and kills its process group.
 *
 * Node cannot put children into one shared process group (spawn only offers `detached`, a new
 * group per child) nor set a parent-death signal, so the marker is the group. Linux only for
 * the /proc scan; elsewhere the run.json pids are what `up` reaps.
 *
 * What survives a SIGKILL of the launcher, and who stops it:
 *   apiserver, controller, agent-*   stop themselves within ~1 s (GANTRY_PARENT_PID, parent-watch)
 *   provider hosts                   stopped by their agent as it stops; else reaped by the next start
 *   nats-server, docker-registry     keep running until the next `up`/`down` (marker + run.json)
 */
import { processesMarked } from '../../runtime/marked-processes.js';
import type { ManagedProcess } from './managed-process.js';
import { PARENT_PID_ENV } from '../../runtime/parent-watch.js';

export const SANDBOX_MARKER_ENV = 'GANTRY_SANDBOX';

export class ChildGroup {
  constructor(
    /** The state dir's absolute path: the marker's value. */
    readonly root: string,
    /** Called synchronously right after each spawn (the launcher rewrites run.json). */
    private readonly onSpawn: (p: ManagedProcess) => void = () => {},
  ) {}

  /** The environment a child of this group starts with. */
  env(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
    // GANTRY_PARENT_PID: a Node child (apiserver, controller, agent) stops itself when this
    // process dies (runtime/parent-watch.ts); nats-server and docker-registry ignore it
    return { ...base, [SANDBOX_MARKER_ENV]: this.root, [PARENT_PID_ENV]: String(process.pid) };
  }

  spawned(p: ManagedProcess): void {
    this.onSpawn(p);
  }
}

/** Pids (other than this process) whose environment carries the marker for `root`. Linux /proc; [] elsewhere. */
export function markedProcesses(root: string, name = SANDBOX_MARKER_ENV): number[] {
  return processesMarked(name, root);
}

/**
 * SIGKILL every process carrying the marker for `root`, and the process group each leads.
 * Returns the pids it signalled.
 */
export function killMarked(root: string, name = SANDBOX_MARKER_ENV): number[] {
  const pids = markedProcesses(root, name);
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* not a group leader */
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return pids;
}
