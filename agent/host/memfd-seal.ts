/**
 * What a host accepts as its library when the agent hands it a descriptor instead of a path:
 * only memory sealed against any write, grow or shrink (F_SEAL_WRITE|GROW|SHRINK). Sealed
 * memory cannot change for anyone — the agent, the host, or whoever else holds the descriptor
 * — so the bytes the agent hashed while writing it are the bytes dlopen maps, with no second
 * hash in the host. F_SEAL_FUTURE_WRITE is not enough (a writable mapping made before it keeps
 * writing); a descriptor that is not sealable memory (a file, a pipe) has no seals at all.
 */
import { HostError } from './errors.js';
import { F_GET_SEALS, F_SEAL_GROW, F_SEAL_SHRINK, F_SEAL_WRITE, type Libc } from './libc.js';

/** The seals a library's memory must carry before it is loaded. */
export const REQUIRED_SEALS = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;

/** Why memory with these seals (F_GET_SEALS; negative: the call failed) cannot be trusted to stay as hashed, or undefined. */
export function sealProblem(seals: number): string | undefined {
  if (seals < 0) return 'it is not sealable memory (F_GET_SEALS failed: not a memfd)';
  const missing = REQUIRED_SEALS & ~seals;
  if (missing === 0) return undefined;
  const names = [
    [F_SEAL_WRITE, 'F_SEAL_WRITE'],
    [F_SEAL_GROW, 'F_SEAL_GROW'],
    [F_SEAL_SHRINK, 'F_SEAL_SHRINK'],
  ] as const;
  return `it lacks ${names
    .filter(([bit]) => missing & bit)
    .map(([, name]) => name)
    .join(', ')}: its bytes could still change`;
}

/** Throws HostError LIBRARY_NOT_SEALED unless descriptor `fd` is memory sealed with REQUIRED_SEALS. */
export function assertSealed(c: Libc, fd: number): void {
  const problem = sealProblem(c.fcntl(fd, F_GET_SEALS));
  if (problem)
    throw new HostError('LIBRARY_NOT_SEALED', `the library descriptor the agent handed over is refused: ${problem}; it is not loaded`);
}
