/**
 * The node-local archive cache the agent pulls through. Content-addressed by manifest digest
 * (`<dir>/sha256/<hex>.par` plus a `.json` naming the archive layer's digest); written to a
 * temp file and renamed, so a crash never leaves half an archive under a real name; verified
 * on every read (layer digest, then signature, trust and hashes — a file changed on disk is
 * dropped and fetched again); bounded in size with least-recently-used eviction (use is
 * recorded in the file's mtime); concurrent fetches of one digest share one download.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { verifyPar, type VerifiedPar } from '../par/index.js';
import { logger } from '../runtime/log.js';
import { DEFAULT_MAX_ARCHIVE_BYTES, type ArchiveStore } from './archive-store.js';
import { digestHex, sha256Digest } from './digest.js';
import { RegistryError } from './errors.js';
import { atomicWrite } from './layout/image-layout.js';

export interface CachedArchive {
  path: string;
  bytes: Uint8Array;
  verified: VerifiedPar;
}

/** What verification is asked of a fetched archive, beyond its digest and signature. */
interface FetchChecks {
  trustedIssuers?: string[];
  target?: string;
}

function sameChecks(a: FetchChecks, b: FetchChecks): boolean {
  const issuers = (x: FetchChecks) => (x.trustedIssuers ? [...x.trustedIssuers].sort().join(',') : undefined);
  return a.target === b.target && issuers(a) === issuers(b);
}

const DEFAULT_MAX_BYTES = 2 * 1024 * 1024 * 1024;

export class ArchiveCache {
  private readonly maxBytes: number;
  private readonly inflight = new Map<string, { checks: FetchChecks; loaded: Promise<CachedArchive> }>();
  private readonly log = logger('archive-cache');

  private readonly maxArchiveBytes: number;

  constructor(
    readonly dir: string,
    opts: { maxBytes?: number; maxArchiveBytes?: number } = {},
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxArchiveBytes = opts.maxArchiveBytes ?? DEFAULT_MAX_ARCHIVE_BYTES;
  }

  private paths(digest: string): { archive: string; meta: string } {
    const hex = digestHex(digest);
    return { archive: join(this.dir, 'sha256', `${hex}.par`), meta: join(this.dir, 'sha256', `${hex}.json`) };
  }

  /** The archive for a manifest digest, from disk when present and still valid, else from the store. */
  fetch(store: ArchiveStore, digest: string, opts: FetchChecks = {}): Promise<CachedArchive> {
    digestHex(digest);
    // concurrent callers share one download; a caller that joins one started by another
    // re-checks the bytes only when its trust list or target differ (else the result is the same)
    const running = this.inflight.get(digest);
    if (running) {
      if (sameChecks(running.checks, opts)) return running.loaded;
      return running.loaded.then(async (got) => ({ ...got, verified: await verifyPar(got.bytes, opts) }));
    }
    const loaded = this.load(store, digest, opts).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, { checks: opts, loaded });
    return loaded;
  }

  private async load(store: ArchiveStore, digest: string, opts: FetchChecks): Promise<CachedArchive> {
    const { archive, meta } = this.paths(digest);
    const fromDisk = await this.readVerified(digest, opts);
    if (fromDisk) return fromDisk;
    const pulled = await store.pull(digest, opts); // verified by the store before we see it
    mkdirSync(join(this.dir, 'sha256'), { recursive: true, mode: 0o700 });
    // the download already hashed the archive against its layer digest: no second pass over it
    atomicWrite(
      meta,
      Buffer.from(JSON.stringify({ manifestDigest: digest, archiveDigest: pulled.archiveDigest, size: pulled.bytes.length })),
      0o600,
    );
    atomicWrite(archive, pulled.bytes, 0o600);
    this.evict(archive);
    return { path: archive, bytes: pulled.bytes, verified: pulled.verified };
  }

  private async readVerified(digest: string, opts: FetchChecks): Promise<CachedArchive | undefined> {
    const { archive, meta } = this.paths(digest);
    if (!existsSync(archive) || !existsSync(meta)) return undefined;
    try {
      const m = JSON.parse(readFileSync(meta, 'utf8')) as { archiveDigest: string };
      // a file grown past the limit is not one this cache wrote: dropped unread
      if (statSync(archive).size > this.maxArchiveBytes)
        throw new RegistryError('ARCHIVE_TOO_LARGE', `cached archive ${archive} is over the ${this.maxArchiveBytes}-byte limit`);
      const bytes = readFileSync(archive);
      if (sha256Digest(bytes) !== m.archiveDigest) throw new RegistryError('DIGEST_MISMATCH', `cached archive ${archive} changed on disk`);
      const verified = await verifyPar(bytes, opts);
      const now = new Date();
      utimesSync(archive, now, now); // record the use for LRU
      return { path: archive, bytes, verified };
    } catch (e) {
      const code = (e as { code?: string }).code;
      // untrusted-for-this-caller is a refusal, not corruption: keep the file, surface the error
      if (code === 'PAR_UNTRUSTED_ISSUER' || code === 'PAR_TARGET_NOT_FOUND') throw e;
      this.log.warn({ digest, err: (e as Error).message }, 'cached archive failed verification; dropping it and fetching again');
      rmSync(archive, { force: true });
      rmSync(meta, { force: true });
      return undefined;
    }
  }

  /** Drop least-recently-used archives until the cache fits; never the one just written. */
  private evict(keep: string): void {
    const dir = join(this.dir, 'sha256');
    const files = readdirSync(dir)
      .filter((n) => n.endsWith('.par'))
      .map((n) => {
        const p = join(dir, n);
        const st = statSync(p);
        return { p, size: st.size, used: st.mtimeMs };
      })
      .sort((a, b) => a.used - b.used);
    let total = files.reduce((s, f) => s + f.size, 0);
    for (const f of files) {
      if (total <= this.maxBytes) break;
      if (f.p === keep) continue;
      rmSync(f.p, { force: true });
      rmSync(f.p.replace(/\.par$/, '.json'), { force: true });
      total -= f.size;
      this.log.info({ path: f.p, size: f.size }, 'evicted from the archive cache');
    }
  }
}
