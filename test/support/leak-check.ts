/**
 * The suite leaves nothing behind. vitest.config.ts gives the run an id in GANTRY_TEST_RUN
 * before any worker forks, so every process the suite starts — workers, the servers tests
 * start, sandboxes, agents, provider hosts — inherits it (unless a test hands a child an
 * environment without process.env). After the last test this teardown lists, from
 * /proc/<pid>/environ, the processes still carrying the id; it kills them and fails the run
 * naming each one, so a leak is a red build rather than a pile of servers on the machine.
 */
import { readdirSync, readFileSync } from 'node:fs';

export const TEST_RUN_ENV = 'GANTRY_TEST_RUN';

export interface Survivor {
  pid: number;
  ppid: number;
  cmdline: string;
}

/** Processes (other than this one and vitest's own workers) whose environment carries `id`. */
export function survivors(id: string): Survivor[] {
  const needle = `${TEST_RUN_ENV}=${id}`;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return []; // not Linux: nothing to list
  }
  const found: Survivor[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(needle)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (after[0] === 'Z') continue; // exited; only its parent's wait is missing
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      if (/node_modules\/(vitest|tinypool)\//.test(cmdline)) continue; // the pool's own workers
      // vitest 5's watchdog (its process.title hides its path), which exits with vitest itself
      if (cmdline === 'vitest-watchdog') continue;
      found.push({ pid, ppid: Number(after[1]), cmdline });
    } catch {}
  }
  return found;
}

export default function setup(): () => Promise<void> {
  const id = process.env[TEST_RUN_ENV];
  return async () => {
    if (!id) return;
    // a test's afterAll may have signalled its servers an instant ago: give them 5 s to exit
    let left = survivors(id);
    for (let i = 0; i < 50 && left.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = survivors(id);
    }
    if (!left.length) return;
    for (const s of left)
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {}
    // vitest reports an error thrown here but still exits 0: the exit code is set as well
    process.exitCode = 1;
    throw new Error(
      `the test suite left ${left.length} process(es) running (now killed); find the test that started each and stop it:\n${left.map((s) => `  pid ${s.pid} (parent ${s.ppid}): ${s.cmdline.slice(0, 300)}`).join('\n')}`,
    );
  };
}
