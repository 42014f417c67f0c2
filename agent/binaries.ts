/**
 * The agent's private, content-addressed store of provider libraries: the verified target
 * binary of an archive is written to `<dir>/<sha256>.so` (dir mode 0700, file 0600), via a
 * temporary file and a rename so a reader never sees half a library. The name *is* the
 * hash the signed claims vouch for, so two instances of one archive share one file, and a
 * file already on disk is trusted again only if it still hashes to its name (`intact`) — a
 * library altered after extraction is replaced from the verified archive bytes rather than loaded.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export class BinaryStoreError extends Error {
  constructor(
    readonly code: 'BINARY_HASH_MISMATCH' | 'BINARY_WRITE_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'BinaryStoreError';
  }
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class BinaryStore {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }

  pathFor(sha256: string): string {
    return join(this.dir, `${sha256.toLowerCase()}.so`);
  }

  /**
   * Place `bytes` (whose SHA-256 must be `expectedSha256`, as signed in the claims) in the
   * store and return its path. `hashedBy` names a verifier that has just hashed exactly
   * these bytes against the signed value (par's verifyPar), so hashing them again is skipped.
   */
  install(bytes: Uint8Array, expectedSha256: string, hashedBy?: 'verifyPar'): string {
    const want = expectedSha256.toLowerCase();
    const got = hashedBy ? want : sha256Hex(bytes);
    if (got !== want) {
      throw new BinaryStoreError('BINARY_HASH_MISMATCH', `binary hashes to ${got}, but the claims say ${want}`);
    }
    const final = this.pathFor(want);
    const tmp = join(this.dir, `.${want}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      writeFileSync(tmp, bytes, { mode: 0o600 });
      renameSync(tmp, final);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new BinaryStoreError('BINARY_WRITE_FAILED', `cannot write ${final}: ${(err as Error).message}`);
    }
    return final;
  }

  /** Whether the library named `sha256` is on disk and still hashes to its name. */
  intact(sha256: string): boolean {
    try {
      return sha256Hex(readFileSync(this.pathFor(sha256))) === sha256.toLowerCase();
    } catch {
      return false;
    }
  }

  /** Leftover temporaries from a crash mid-write. */
  sweepTemporaries(): void {
    for (const f of readdirSync(this.dir)) if (f.endsWith('.tmp')) rmSync(join(this.dir, f), { force: true });
  }
}
