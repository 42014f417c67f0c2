/**
 * The agent's cache dir and what lives in it: `hosts/` (the pids of the hosts it started,
 * HostRecords), `binaries/` (verified libraries by sha256, BinaryStore) and `archives/` (the
 * digest cache, ArchiveCache); beside them, in memory, the sealed copies of the verified
 * libraries the hosts load (SealedLibraries). Opening it refuses a dir others could write (CACHE_DIR_UNSAFE)
 * and reaps the hosts a previous agent on this node left behind, before anything is read from
 * it or started.
 */
import { join } from 'node:path';
import { ArchiveCache } from '../registry/index.js';
import type { Logger } from '../runtime/log.js';
import { keyOf } from '../runtime/toolkit/keys.js';
import { BinaryStore } from './binaries.js';
import { ensurePrivateCacheDir } from './cache-dir.js';
import { HostRecords } from './host-records.js';
import { SealedLibraries } from './sealed-libraries.js';

export interface NodeCache {
  dir: string;
  records: HostRecords;
  binaries: BinaryStore;
  archives: ArchiveCache;
  /** the sealed in-memory copies of verified libraries the hosts load (in memory only: gone with the agent) */
  sealed: SealedLibraries;
}

export async function openNodeCache(dir: string, o: { cacheMaxBytes?: number; maxArchiveBytes?: number }, log: Logger): Promise<NodeCache> {
  // before anything is read from it: a cache others can write is a way to run their code
  ensurePrivateCacheDir(dir);
  const records = new HostRecords(join(dir, 'hosts'));
  // before anything else: hosts left by a previous agent on this node must not keep serving
  const reaped = await records.reapAll();
  if (reaped.length) log.info({ hosts: reaped.map((r) => `${keyOf(r)}:${r.pid}`) }, 'stopped provider hosts left by a previous agent');
  const binaries = new BinaryStore(join(dir, 'binaries'));
  binaries.sweepTemporaries();
  const archives = new ArchiveCache(join(dir, 'archives'), { maxBytes: o.cacheMaxBytes, maxArchiveBytes: o.maxArchiveBytes });
  return { dir, records, binaries, archives, sealed: new SealedLibraries() };
}
