/**
 * An OCI image-layout directory (`oci-layout:PATH`) as a content backend: the same tags,
 * manifests and blobs as a registry, with no server. Layout per the OCI image spec:
 * `oci-layout` (version marker), `index.json` (manifests, each tag in the
 * `org.opencontainers.image.ref.name` annotation) and `blobs/sha256/<hex>`.
 * Blobs and index are written to a temp file and renamed, so readers never see half a file;
 * index updates take a lock file so two writers don't lose each other's tags.
 */
import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { ContentBackend } from '../backend.js';
import { digestHex, isDigest, sha256Digest } from '../digest.js';
import { RegistryError } from '../errors.js';
import { OCI_INDEX, REF_NAME_ANNOTATION } from '../media-types.js';

interface IndexEntry {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}
interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: IndexEntry[];
}

const LOCK_WAIT_MS = 10_000;
const LOCK_STALE_MS = 30_000;

export class ImageLayoutBackend implements ContentBackend {
  readonly description: string;

  constructor(readonly dir: string) {
    this.description = `oci-layout:${dir}`;
  }

  private blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  private readIndex(): ImageIndex {
    const p = join(this.dir, 'index.json');
    if (!existsSync(p)) return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    let parsed: ImageIndex;
    try {
      parsed = JSON.parse(readFileSync(p, 'utf8')) as ImageIndex;
    } catch (e) {
      throw new RegistryError('BAD_MANIFEST', `${this.description}: index.json is not valid JSON (${(e as Error).message})`);
    }
    if (!parsed || !Array.isArray(parsed.manifests))
      throw new RegistryError('BAD_MANIFEST', `${this.description}: index.json has no manifests list`);
    return parsed;
  }

  private ensureLayout(): void {
    mkdirSync(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    const marker = join(this.dir, 'oci-layout');
    if (!existsSync(marker)) atomicWrite(marker, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  }

  async listTags(): Promise<string[]> {
    return this.readIndex()
      .manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION])
      .filter((t): t is string => typeof t === 'string');
  }

  async getManifest(reference: string): Promise<{ bytes: Uint8Array; digest: string; mediaType?: string } | undefined> {
    let digest = reference;
    let mediaType: string | undefined;
    if (!isDigest(reference)) {
      const entry = this.readIndex().manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === reference);
      if (!entry) return undefined;
      digest = entry.digest;
      mediaType = entry.mediaType;
    }
    if (!existsSync(this.blobPath(digest))) return undefined;
    const bytes = await this.getBlob(digest);
    return { bytes, digest, mediaType };
  }

  async putManifest(tag: string, bytes: Uint8Array, mediaType: string): Promise<string> {
    const digest = sha256Digest(bytes);
    await this.putBlob(digest, bytes);
    this.withLock(() => {
      const index = this.readIndex();
      index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
      index.manifests.push({ mediaType, digest, size: bytes.length, annotations: { [REF_NAME_ANNOTATION]: tag } });
      index.mediaType = OCI_INDEX;
      atomicWrite(join(this.dir, 'index.json'), Buffer.from(JSON.stringify(index, null, 2) + '\n'));
    });
    return digest;
  }

  async hasManifest(digest: string): Promise<boolean> {
    return (await this.getManifest(digest)) !== undefined;
  }

  async hasBlob(digest: string): Promise<boolean> {
    return existsSync(this.blobPath(digest));
  }

  async putBlob(digest: string, bytes: Uint8Array, onProgress?: (sent: number, total: number) => void): Promise<void> {
    const actual = sha256Digest(bytes);
    if (actual !== digest)
      throw new RegistryError('DIGEST_MISMATCH', `${this.description}: blob announced as ${digest} has digest ${actual}`);
    this.ensureLayout();
    const p = this.blobPath(digest);
    if (!existsSync(p) || statSync(p).size !== bytes.length) atomicWrite(p, bytes);
    onProgress?.(bytes.length, bytes.length);
  }

  async getBlobPrefix(digest: string, maxBytes: number): Promise<Uint8Array> {
    let fd: number;
    try {
      fd = openSync(this.blobPath(digest), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new RegistryError('NOT_FOUND', `${this.description}: blob ${digest} is missing`);
      throw e;
    }
    try {
      const buf = Buffer.allocUnsafe(Math.min(maxBytes, fstatSync(fd).size));
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  }

  async getBlob(digest: string, size?: number, onProgress?: (received: number, total: number) => void): Promise<Uint8Array> {
    const p = this.blobPath(digest);
    // a file longer than the manifest says is not read at all
    if (size !== undefined && existsSync(p) && statSync(p).size !== size) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `${this.description}: blob ${digest} on disk is ${statSync(p).size} bytes, the manifest says ${size}: it was altered or corrupted; nothing was read`,
      );
    }
    let bytes: Uint8Array;
    try {
      bytes = await readFile(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        throw new RegistryError('NOT_FOUND', `${this.description}: blob ${digest} is missing`);
      throw e;
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest || (size !== undefined && bytes.length !== size)) {
      throw new RegistryError(
        'DIGEST_MISMATCH',
        `${this.description}: blob ${digest} on disk has digest ${actual} (${bytes.length} bytes): it was altered or corrupted; nothing was kept`,
      );
    }
    onProgress?.(bytes.length, bytes.length);
    return bytes;
  }

  private withLock<T>(fn: () => T): T {
    this.ensureLayout();
    const lock = join(this.dir, '.gantry-index.lock');
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(lock, 'wx'));
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        try {
          if (Date.now() - statSync(lock).mtimeMs > LOCK_STALE_MS) unlinkSync(lock); // a writer died holding it
        } catch {
          /* gone already */
        }
        if (Date.now() > deadline)
          throw new RegistryError(
            'LOCKED',
            `${this.description}: index.json is locked by another writer (${lock}); retry, or remove the lock if no push is running`,
          );
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
    try {
      return fn();
    } finally {
      rmSync(lock, { force: true });
    }
  }
}

/** Write to a sibling temp file, then rename over the target. */
export function atomicWrite(path: string, bytes: Uint8Array, mode?: number): void {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    writeFileSync(tmp, bytes, mode === undefined ? undefined : { mode });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
