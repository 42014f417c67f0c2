/**
 * Loading exactly the bytes that were verified. Normally the agent hands the host a descriptor
 * on its sealed memfd of the verified library (openSealedLibrary: sealed memory cannot change,
 * so it is loaded without hashing again; anything not sealed is refused, memfd-seal.ts).
 * Otherwise (no sealed copy could be made or passed) the agent names a library by the SHA-256 the
 * archive's signed claims vouch for; a path is only a hint, since the file behind it can be
 * swapped at any moment — between the agent's check and the host's dlopen, or during a crash
 * backoff. So the host process opens the file once (no symlinks), reads it through that
 * descriptor into memory, hashes exactly those bytes, and copies them into a memfd sealed
 * against any further write, grow or shrink; the loader is handed `/proc/self/fd/N` of that
 * memfd. What runs is then the hashed bytes, whatever happens to the file afterwards.
 *
 * Where memfd_create is missing (kernels before 3.17), the loader gets `/proc/self/fd/N` of
 * the descriptor the bytes were hashed from, which still survives a rename over the path.
 * Off Linux there is no /proc: the file is hashed and then loaded by path (documented gap).
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { HostError } from './errors.js';
import {
  F_ADD_SEALS,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  loadLibc,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  receiveFd,
} from './libc.js';
import { assertSealed } from './memfd-seal.js';
import { LIBRARY_CHANNEL_FD } from './library-channel.js';

/** Larger than any real provider; a bound on what the host reads into memory. */
const MAX_LIBRARY_BYTES = 1024 * 1024 * 1024;
export interface VerifiedLibrary {
  /** what to hand to dlopen */
  loadPath: string;
  /** how the bytes are pinned: a sealed memfd, the hashed descriptor, or only the path */
  pinnedBy: 'memfd' | 'descriptor' | 'path';
}

/**
 * The library the agent handed over as a descriptor on `channelFd`: accepted only as memory
 * sealed against write, grow and shrink (LIBRARY_NOT_SEALED otherwise, memfd-seal.ts), so it
 * is loaded without a second hash — the agent hashed it as it wrote it, and sealed memory
 * cannot change since. No descriptor waiting: LOAD_FAILED (the agent said it sent one).
 */
export function openSealedLibrary(channelFd = LIBRARY_CHANNEL_FD): VerifiedLibrary {
  const c = loadLibc();
  if (!c) throw new HostError('LOAD_FAILED', 'the library was handed over as a descriptor, but this host cannot receive one (no libc)');
  const fd = receiveFd(c, channelFd);
  if (fd === undefined) throw new HostError('LOAD_FAILED', `no library descriptor arrived on the host's library channel (fd ${channelFd})`);
  try {
    assertSealed(c, fd);
  } catch (e) {
    c.close(fd);
    throw e;
  }
  // kept open for the life of the process: the loader and the call threads use it
  return { loadPath: `/proc/self/fd/${fd}`, pinnedBy: 'memfd' };
}

/** Read a whole regular file through one descriptor. */
function readThrough(fd: number, path: string): Buffer {
  const st = fstatSync(fd);
  if (!st.isFile()) throw new HostError('LOAD_FAILED', `${path} is not a regular file`);
  if (st.size > MAX_LIBRARY_BYTES)
    throw new HostError('LOAD_FAILED', `${path} is ${st.size} bytes, over the ${MAX_LIBRARY_BYTES}-byte library limit`);
  const buf = Buffer.allocUnsafe(st.size);
  let off = 0;
  while (off < buf.length) {
    const n = readSync(fd, buf, off, buf.length - off, off);
    if (n === 0) break;
    off += n;
  }
  // a file that shrank under us is not the one that was measured: hash what was read
  return off === buf.length ? buf : buf.subarray(0, off);
}

/**
 * Open `path`, check that its bytes hash to `sha256` (hex, any case), and pin those bytes for
 * the loader. Throws HostError LIBRARY_HASH_MISMATCH when they do not: nothing is loaded.
 */
export function openVerifiedLibrary(path: string, sha256: string): VerifiedLibrary {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (e) {
    throw new HostError('LOAD_FAILED', `cannot open provider library ${path}: ${(e as Error).message}`);
  }
  let keepFd = false;
  try {
    const bytes = readThrough(fd, path);
    const got = createHash('sha256').update(bytes).digest('hex');
    if (got !== sha256.toLowerCase()) {
      throw new HostError(
        'LIBRARY_HASH_MISMATCH',
        `${path} hashes to ${got}, not the verified ${sha256.toLowerCase()}: the library file was changed after verification; it is not loaded`,
      );
    }
    if (process.platform !== 'linux') return { loadPath: path, pinnedBy: 'path' };
    const c = loadLibc();
    const memfd = c ? c.memfdCreate('gantry-provider', MFD_CLOEXEC | MFD_ALLOW_SEALING) : -1;
    if (memfd < 0) {
      keepFd = true; // the loader reads through the descriptor the bytes were hashed from
      return { loadPath: `/proc/self/fd/${fd}`, pinnedBy: 'descriptor' };
    }
    for (let off = 0; off < bytes.length; ) off += writeSync(memfd, bytes, off, bytes.length - off);
    if (c!.fcntl(memfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) !== 0) {
      closeSync(memfd);
      throw new HostError('LOAD_FAILED', `cannot seal the in-memory copy of ${path}`);
    }
    // the memfd stays open for the life of the process: the loader and the call threads use it
    return { loadPath: `/proc/self/fd/${memfd}`, pinnedBy: 'memfd' };
  } finally {
    if (!keepFd) closeSync(fd);
  }
}
