/**
 * Processes found by a marker in their environment (`NAME=value`, read from
 * /proc/<pid>/environ): how the sandbox, the agent and the test suite find every process they
 * started — including one spawned after the last record was written — and nothing else.
 * Linux only: [] where there is no /proc. This process itself is never listed.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function processesMarked(name: string, value: string): number[] {
  const needle = `${name}=${value}`;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(needle)) found.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}
