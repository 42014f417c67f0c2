/**
 * A parent-death signal for Node children. Linux's PR_SET_PDEATHSIG is not reachable from
 * Node, so a process started with GANTRY_PARENT_PID=<pid> (the sandbox launcher sets it on
 * every child: the API emulator, controller and agents) checks once a second whether that pid
 * is still its parent and, when not (the parent died, even by SIGKILL, and the process was
 * re-parented), sends itself SIGTERM: its own clean stop runs (an agent stops its provider
 * hosts), and if that has not ended the process within `graceMs` it exits. The variable is
 * removed from this process's environment at once, so what it starts in turn does not inherit
 * a pid that is not its parent.
 */
import { readFileSync } from 'node:fs';

export const PARENT_PID_ENV = 'GANTRY_PARENT_PID';

/** This process's current parent (Linux /proc; process.ppid is fixed at start-up in Node). */
function currentParent(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function parentGone(parent: number): boolean {
  const now = currentParent();
  if (now !== undefined) return now !== parent;
  try {
    process.kill(parent, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

export function watchParent(graceMs = 15_000, everyMs = 1000): void {
  const raw = process.env[PARENT_PID_ENV];
  delete process.env[PARENT_PID_ENV];
  const parent = Number(raw);
  if (!raw || !Number.isInteger(parent) || parent <= 1) return;
  if (parentGone(parent)) {
    process.exit(1); // the parent died before this process got here
  }
  const timer = setInterval(() => {
    if (!parentGone(parent)) return;
    clearInterval(timer);
    process.stderr.write(`parent process ${parent} is gone: stopping\n`);
    setTimeout(() => process.exit(1), graceMs).unref();
    process.kill(process.pid, 'SIGTERM');
  }, everyMs);
  timer.unref();
}
