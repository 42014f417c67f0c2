/**
 * How the CLI's log commands read a log (docs/transparency.md "Tiles"): through the tiled
 * reader (tlog/log/tiled.ts), so a proof costs the O(log n) tiles it needs — from the tile
 * cache (tile-cache.ts) when an earlier command read them — and a log written before tiles is
 * read the old way behind the same interface. Proofs are checked here before they are printed.
 */
import { existsSync, rmSync } from 'node:fs';
import type { ContentBackend } from '../registry/index.js';
import {
  CHECKPOINT_TAG,
  checkpointTag,
  LATEST_CHECKPOINT_TAG,
  registryTileSource,
  storedNote,
  emptyRoot,
  isTlogError,
  openTiledLog,
  parseCheckpoint,
  TlogError,
  tiles,
  verifyConsistency,
  verifyInclusion,
  type Checkpoint,
  type LogEntry,
  type LogReader,
  type VerifiedCheckpoint,
} from '../tlog/index.js';
import { diskTileCache, tileCacheDir } from './tile-cache.js';

/** The log of `backend` through its tiles, with the CLI's tile cache (`cache: false`: straight from the registry). */
export async function openLogReader(backend: ContentBackend, origin?: string, cache = true): Promise<LogReader> {
  const dir = cache ? tileCacheDir(origin ?? backend.description, backend) : undefined;
  const source = registryTileSource(backend);
  return openTiledLog(backend, { origin, tiles: dir ? diskTileCache(dir, source) : source });
}

/**
 * Runs `read` on the log through the tile cache; when the cached tiles do not hash to the
 * signed root (TLOG_TILE_MISMATCH: the cache was altered, or the registry at that address now
 * holds another log) the cache of that log is dropped and `read` runs once more on the
 * registry's own tiles — whose result stands on its own, authenticated as always.
 */
export async function withLog<T>(backend: ContentBackend, origin: string | undefined, read: (log: LogReader) => Promise<T>): Promise<T> {
  try {
    return await read(await openLogReader(backend, origin));
  } catch (e) {
    const dir = tileCacheDir(origin ?? backend.description, backend);
    if (!dir || !isTlogError(e) || e.code !== 'TLOG_TILE_MISMATCH' || !existsSync(dir)) throw e;
    rmSync(dir, { recursive: true, force: true });
    return read(await openLogReader(backend, origin));
  }
}

/** The latest stored checkpoint note as is (not verified): tlog.checkpoint, else the largest tlog.checkpoint.<n>. */
export async function storedLatestNote(backend: ContentBackend): Promise<string | undefined> {
  const latest = await storedNote(backend, LATEST_CHECKPOINT_TAG);
  if (latest !== undefined) return latest;
  const sizes = (await backend.listTags()).map((t) => CHECKPOINT_TAG.exec(t)).filter((x) => x !== null);
  return sizes.length ? storedNote(backend, checkpointTag(Math.max(...sizes.map((x) => Number(x[1]))))) : undefined;
}

/** The checkpoint in a note, without checking its signatures (what `gantry log` prints without --key). */
export function unverifiedCheckpoint(note: string): Checkpoint {
  const end = note.indexOf('\n\n');
  return parseCheckpoint(end < 0 ? note : note.slice(0, end + 1));
}

/** The checkpoint proofs are given against: verified with keys, else the latest stored one as is. */
export async function checkpointFor(
  reader: LogReader,
  verifiers: Parameters<LogReader['latestCheckpoint']>[0],
): Promise<{ checkpoint: Checkpoint; note: string; verified?: VerifiedCheckpoint }> {
  if (verifiers.length) {
    const v = await reader.latestCheckpoint(verifiers);
    return { checkpoint: v.checkpoint, note: v.note, verified: v };
  }
  const note = await storedLatestNote(reader.backend);
  if (note === undefined)
    throw new TlogError(
      'TLOG_NO_LOG',
      `${reader.backend.description} has no transparency log (no tlog.checkpoint.<n> tag); push with --log-key to start one`,
    );
  return { checkpoint: unverifiedCheckpoint(note), note };
}

/** Revision `revision`'s inclusion in the tree of `c`, verified against its root. */
export async function inclusionOf(
  reader: LogReader,
  revision: number,
  c: Checkpoint,
): Promise<{ index: number; entry: LogEntry; leafHash: Uint8Array; proof: Uint8Array[] }> {
  const found = await reader.findRevision(revision, c);
  if (!found)
    throw new TlogError(
      'TLOG_UNLOGGED_REVISION',
      `${reader.backend.description}: revision ${revision} is not in the log's checkpoint of size ${c.size}`,
    );
  const tree = reader.tree(c);
  const [leafHash, proof] = await Promise.all([tree.leafHash(found.index), tree.inclusionProof(found.index)]);
  verifyInclusion(leafHash, found.index, c.size, proof, c.root);
  return { ...found, leafHash, proof };
}

/** The consistency proof from the tree of `from` to that of `to` (≤ c.size), from the tiles of `c`, verified. */
export async function consistencyOf(
  reader: LogReader,
  c: Checkpoint,
  from: number,
  to: number,
): Promise<{ proof: Uint8Array[]; fromRoot: Uint8Array; toRoot: Uint8Array }> {
  const tree = reader.tree(c);
  const toRoot = to === c.size ? c.root : await tree.rootAt(to);
  const fromRoot = from === 0 ? emptyRoot() : from <= to ? await tree.rootAt(from) : emptyRoot();
  const sub = to === c.size ? tree : new tiles.TiledTree(prefixTiles(tree.source, c.size), to, toRoot);
  const proof = from > 0 && from < to ? await sub.consistencyProof(from) : [];
  // sizes out of order, or from the empty tree, are refused here with merkle's own codes
  verifyConsistency(from, to, proof, fromRoot, toRoot);
  return { proof, fromRoot, toRoot };
}

/**
 * Tiles of an older tree read from the tiles of the tree of `size`: a partial tile the log
 * never stored at that width (C2SP keeps only the widths its checkpoints had) is the prefix
 * of the wider one — the hashes of complete subtrees never change as a tree grows. Whatever
 * it serves is still authenticated by the tree that asks, against its own root.
 */
export function prefixTiles(source: tiles.TileSource, size: number): tiles.TileSource {
  const widthAt = (level: number, index: number) => Math.min(256, Math.floor(size / 256 ** level) - 256 * index);
  return {
    async hashTile(t) {
      const exact = await source.hashTile(t);
      const w = widthAt(t.level, t.index);
      if (exact || w <= t.width) return exact;
      return (await source.hashTile({ ...t, width: w }))?.subarray(0, t.width * 32);
    },
    async bundle(b) {
      const exact = await source.bundle(b);
      const w = widthAt(0, b.index);
      if (exact || w <= b.width) return exact;
      const wider = await source.bundle({ ...b, width: w });
      return wider && tiles.encodeBundle(tiles.decodeBundle(wider, w).slice(0, b.width));
    },
  };
}
