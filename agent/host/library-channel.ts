/**
 * A host's library channel: fd 4 of every host process is one end of a Unix socket pair (what
 * libuv makes for a 'pipe' stdio entry, pool.ts forkHostProcess). Just before a host's spec,
 * the agent passes it a descriptor on the sealed memfd of the verified library there
 * (SCM_RIGHTS); the host takes it when the spec says so (verified-library.ts openSealedLibrary).
 * A descriptor passed this way is the host's own: no path through /proc of another process,
 * which a host running as another user could not open, and nothing another process can swap.
 */
import type { ChildProcess } from 'node:child_process';
import { loadLibc, sendFd } from './libc.js';

/** The host's end of its library channel. */
export const LIBRARY_CHANNEL_FD = 4;

/** The agent's end of a host's library channel (a raw socket descriptor), or undefined. */
export function libraryChannelOf(child: ChildProcess): number | undefined {
  // Node keeps the descriptor of a stdio pipe on its handle; there is no public accessor
  const fd = (child.stdio[LIBRARY_CHANNEL_FD] as unknown as { _handle?: { fd?: number } } | null | undefined)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Pass `libraryFd` to host process `child`; false where it cannot be (no channel, no libc, send failed). */
export function passLibrary(child: ChildProcess, libraryFd: number): boolean {
  const channel = libraryChannelOf(child);
  const c = loadLibc();
  return channel !== undefined && c !== null && sendFd(c, channel, libraryFd);
}
