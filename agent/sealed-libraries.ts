/**
 * The agent's sealed copies of verified libraries: one memfd per library SHA-256, made once
 * when an archive's binary is first verified — hashed as it is written into the memfd,
 * compared with the signed hash, then sealed against write, grow, shrink and further seals —
 * and handed to each host that loads that library (a descriptor of its own, passed over the
 * host's library channel: agent/host/verified-library.ts). Sealed memory cannot change, so
 * no host hashes the library again, and two hosts of one library share its pages.
 *
 * It also remembers which archive digests verified to which library, with their signed
 * claims: a second instance of a digest re-checks only those claims against its own trust
 * (signature, issuer, validity times) — the bytes are the sealed ones — as long as the
 * archive and library files in the node cache are the ones that verified (a file changed or
 * gone there sends the start through the full fetch and verify, which repairs the cache).
 *
 * Bounded: libraries over maxBytes in total are dropped least recently used first (a host
 * holds its own descriptor, so a dropped copy lives on in the hosts that use it).
 */
import { createHash } from 'node:crypto';
import { type Stats, statSync, writeSync } from 'node:fs';
import {
  F_ADD_SEALS,
  F_GET_SEALS,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  loadLibc,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
} from './host/libc.js';
import { sealProblem } from './host/memfd-seal.js';
import { BinaryStoreError } from './binaries.js';

const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
const CHUNK = 1024 * 1024;

interface Sealed {
  fd: number;
  size: number;
}

/** An archive digest that verified, and what to check again before its library is reused. */
export interface VerifiedArchive {
  /** the signed claims (re-verified against each instance's trust) */
  jwt: string;
  /** this node's target binary's signed SHA-256 (hex, lower case) */
  sha256: string;
  /** the node cache's copies as they were when they verified */
  files: Array<{ path: string; stamp: string }>;
}

/** Identity of a file's content as far as the kernel tells: any write or replacement changes it. */
function stampOf(path: string): string | undefined {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return undefined;
  }
  return `${st.dev}:${st.ino}:${st.size}:${st.ctimeMs}:${st.mtimeMs}`;
}

export class SealedLibraries {
  /** insertion order is use order: the first entry is the least recently used */
  private readonly libraries = new Map<string, Sealed>();
  private readonly archives = new Map<string, VerifiedArchive>();
  private bytes = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_BYTES) {}

  /** Whether this node can seal libraries (Linux with memfd_create). */
  get supported(): boolean {
    return loadLibc() !== null;
  }

  /**
   * Make (or reuse) the sealed memfd of the library whose signed hash is `sha256` from `bytes`,
   * hashing them as they are written. Throws BinaryStoreError BINARY_HASH_MISMATCH when they do
   * not hash to it; returns false where memfds cannot be made (the host then hashes the file).
   */
  seal(bytes: Uint8Array, sha256: string): boolean {
    const want = sha256.toLowerCase();
    if (this.touch(want)) return true;
    const c = loadLibc();
    if (!c) return false;
    const fd = c.memfdCreate(`gantry-provider-${want.slice(0, 12)}`, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return false;
    try {
      const hash = createHash('sha256');
      for (let off = 0; off < bytes.length; ) {
        const chunk = bytes.subarray(off, Math.min(off + CHUNK, bytes.length));
        hash.update(chunk);
        for (let w = 0; w < chunk.length; ) w += writeSync(fd, chunk, w, chunk.length - w, off + w);
        off += chunk.length;
      }
      const got = hash.digest('hex');
      if (got !== want) throw new BinaryStoreError('BINARY_HASH_MISMATCH', `binary hashes to ${got}, but the claims say ${want}`);
      const problem =
        c.fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) === 0
          ? sealProblem(c.fcntl(fd, F_GET_SEALS))
          : 'F_ADD_SEALS failed';
      if (problem) throw new BinaryStoreError('BINARY_WRITE_FAILED', `cannot seal the in-memory copy of ${want}: ${problem}`);
    } catch (e) {
      c.close(fd);
      throw e;
    }
    this.libraries.set(want, { fd, size: bytes.length });
    this.bytes += bytes.length;
    this.evict(want);
    return true;
  }

  /** A descriptor of its own on the sealed library `sha256` for one host (its owner closes it), or undefined. */
  descriptorFor(sha256: string): number | undefined {
    const s = this.touch(sha256.toLowerCase());
    const c = loadLibc();
    if (!s || !c) return undefined;
    const fd = c.dup(s.fd);
    return fd < 0 ? undefined : fd;
  }

  /** Remember that archive `digest` verified, with its claims and the cache files it verified from. */
  remember(digest: string, jwt: string, sha256: string, paths: string[]): void {
    const files = paths.map((path) => ({ path, stamp: stampOf(path) }));
    if (files.some((f) => f.stamp === undefined)) return;
    this.archives.set(digest, { jwt, sha256: sha256.toLowerCase(), files: files as VerifiedArchive['files'] });
  }

  /**
   * What archive `digest` verified to, if its library is still sealed here and its cache files
   * are unchanged since; else undefined (and it is forgotten): verify it the full way.
   */
  recall(digest: string): VerifiedArchive | undefined {
    const a = this.archives.get(digest);
    if (!a) return undefined;
    if (this.libraries.has(a.sha256) && a.files.every((f) => stampOf(f.path) === f.stamp)) return a;
    this.archives.delete(digest);
    return undefined;
  }

  /** Close every sealed copy (the agent stops; hosts keep their own descriptors). */
  close(): void {
    const c = loadLibc();
    for (const s of this.libraries.values()) c?.close(s.fd);
    this.libraries.clear();
    this.archives.clear();
    this.bytes = 0;
  }

  private touch(sha256: string): Sealed | undefined {
    const s = this.libraries.get(sha256);
    if (!s) return undefined;
    this.libraries.delete(sha256);
    this.libraries.set(sha256, s);
    return s;
  }

  private evict(keep: string): void {
    const c = loadLibc();
    for (const [sha, s] of this.libraries) {
      if (this.bytes <= this.maxBytes) break;
      if (sha === keep) continue;
      this.libraries.delete(sha);
      this.bytes -= s.size;
      c?.close(s.fd);
    }
  }
}
