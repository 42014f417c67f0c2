/**
 * Who may extend a log, and its checkpoints: only the holder of the key that signed its latest
 * checkpoint, and only while the stored tree still hashes to it. checkpointLog() signs and
 * stores the checkpoint of a settled prefix of the entries (the append decides which,
 * append.ts). Checkpoints need no mutual exclusion: the checkpoint of size n over the same
 * entries, signed by the same Ed25519 key, is the same bytes whoever writes it — and so are
 * the tiles of the same tree.
 *
 * A checkpoint is written in this order (docs/transparency.md "Tiles"): the tiles of the growth
 * from the previous checkpoint, tlog.revision.<r> for each new entry, tlog.checkpoint.<n>, and
 * last the mutable tlog.checkpoint, moved only forward. A writer that stops part way leaves
 * immutable tiles and tags no reader relies on yet; the next checkpoint rewrites the same bytes.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { formatCheckpoint, type Checkpoint } from '../checkpoint.js';
import { encodeEntry, type LogEntry } from '../entry.js';
import { isTlogError, TlogError } from '../errors.js';
import { parseVerifierKey, signNote, type NoteSigner } from '../note.js';
import { cachedTileSource, growTiles, TILE_WIDTH, type TileSource } from '../tiles/index.js';
import { checkpointManifest, entryManifest } from './artifact.js';
import { defaultOrigin, LATEST_CHECKPOINT_TAG, revisionTag } from './layout.js';
import { mapLimited, READ_CONCURRENCY, readEntry, type RepositoryLog, type VerifiedCheckpoint, verifyCheckpointNote } from './read.js';
import { storeCheckpointNote } from './store.js';
import { EntriesLog, type LogReader, openTiledLog, storedNote } from './tiled.js';
import { registryTileSource, storeTiles } from './tiles-store.js';

/**
 * The latest checkpoint, verified with the signer's own key against the stored entries, or
 * undefined when the log has none. A log that is not this key's (TLOG_NOTE_UNVERIFIED) or
 * whose history changed (TLOG_ROOT_MISMATCH, …) is never extended.
 */
export async function latestOwnCheckpoint(log: RepositoryLog, signer: NoteSigner): Promise<VerifiedCheckpoint | undefined> {
  const stored = await log.checkpointNote();
  if (!stored) return undefined;
  return ownKey(log.backend, signer, () => log.checkStored(stored, [parseVerifierKey(signer.verifierKey)]));
}

async function ownKey<T>(backend: ContentBackend, signer: NoteSigner, check: () => T | Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (e) {
    if (isTlogError(e) && e.code === 'TLOG_NOTE_UNVERIFIED') {
      throw new TlogError(
        'TLOG_NOTE_UNVERIFIED',
        `${backend.description}: the log's checkpoint is not signed by ${signer.name}+${signer.keyHash}; this log belongs to another key — push with that key`,
      );
    }
    throw e;
  }
}

/** Where an extension of the log starts: the latest own checkpoint and the tree's tiles. */
export interface LogWriterState {
  backend: ContentBackend;
  origin: string;
  /** the latest checkpoint, verified with the writer's key (undefined: none yet) */
  latest?: VerifiedCheckpoint;
  /** tiles of the stored tree (tiled logs; the right edge already authenticated against `latest`) */
  tiles?: TileSource;
  /** the tiled log's reader (over `tiles`) */
  reader?: LogReader;
  /** a log without tiles, read the old way: the first checkpoint writes tiles for all of it */
  old?: RepositoryLog;
}

/** Reads what extending the log needs, in O(log n) requests for a tiled log (one GET per entry for an untiled one). */
export async function openForWriting(backend: ContentBackend, signer: NoteSigner, origin?: string): Promise<LogWriterState> {
  const tiles = cachedTileSource(registryTileSource(backend));
  const reader = await openTiledLog(backend, { origin, tiles });
  if (reader instanceof EntriesLog) {
    return { backend, origin: reader.origin, latest: await latestOwnCheckpoint(reader.log, signer), old: reader.log };
  }
  const latest = await ownKey(backend, signer, () => reader.latestCheckpoint([parseVerifierKey(signer.verifierKey)]));
  return { backend, origin: reader.origin, latest, tiles, reader };
}

/** The size of the tree the state starts from (0 before the first checkpoint). */
export function checkpointedSize(s: LogWriterState): number {
  return s.latest?.checkpoint.size ?? 0;
}

/** Stored entries from `from` upward until the first free index (entries not yet in a checkpoint). */
export async function entriesFrom(s: LogWriterState, from: number): Promise<LogEntry[]> {
  if (s.old) return s.old.entries.slice(from);
  const out: LogEntry[] = [];
  for (;;) {
    const e = await readEntry(s.backend, from + out.length);
    if (!e) return out;
    out.push(e);
  }
}

/**
 * Signs and stores the checkpoint of the first `size` stored entries (default: all of them),
 * unless a checkpoint at least that large exists, after checking that the latest checkpoint
 * verifies with the signer's key and that the stored tree still hashes to it. Returns the
 * checkpoint written or found.
 *
 * `size` must only cover settled entries: a tag seen present at time t can still be
 * overwritten by a competing claim until t + Δ, never after. appendToLog passes the prefix up
 * to its own confirmed entry, which is settled once the claim is confirmed.
 */
export async function checkpointLog(
  backend: ContentBackend,
  opts: { signer: NoteSigner; origin?: string; size?: number },
): Promise<VerifiedCheckpoint> {
  const state = await openForWriting(backend, opts.signer, opts.origin ?? defaultOrigin(backend));
  const stored = checkpointedSize(state) + (await entriesFrom(state, checkpointedSize(state))).length;
  // Stryker disable next-line ConditionalExpression: undefined > n is false anyway
  if (opts.size !== undefined && opts.size > stored) {
    throw new TlogError(
      'TLOG_ENTRY_MISSING',
      `${backend.description}: asked to checkpoint ${opts.size} entries, only ${stored} are stored`,
    );
  }
  return checkpointFrom(state, opts.signer, opts.size ?? stored);
}

/** checkpointLog on a state already read (the append reuses the one it checked). */
export async function checkpointFrom(s: LogWriterState, signer: NoteSigner, size: number): Promise<VerifiedCheckpoint> {
  const base = checkpointedSize(s);
  // Stryker disable next-line EqualityOperator: at equal sizes the same key signs the same bytes again
  if (s.latest && base >= size && !s.old) return s.latest;
  // an untiled log is migrated: tiles for all of it, from the entries read the old way
  const target = Math.max(size, base);
  const from = s.old ? 0 : base;
  const added = await entriesBetween(s, from, target);
  if (s.reader && s.latest && base % TILE_WIDTH > 0) {
    // the partial bundle the new one continues is authenticated against the tree first (growTiles copies it)
    await s.reader.tree(s.latest.checkpoint).entries(base - (base % TILE_WIDTH), base);
  }
  const grown = await growTiles(
    s.old ? undefined : s.tiles,
    from,
    added.map((e) => encodeEntry(e)),
    s.old ? undefined : s.latest?.checkpoint.root,
  );
  let v: VerifiedCheckpoint;
  if (s.latest && target === base) {
    if (!hashesSame(grown.root, s.latest.checkpoint.root)) throw rootMismatch(s, base);
    v = s.latest;
  } else {
    const checkpoint: Checkpoint = { origin: s.origin, size: target, root: grown.root, extensions: [] };
    v = { note: signNote(formatCheckpoint(checkpoint), [signer]), checkpoint, signedBy: [`${signer.name}+${signer.keyHash}`] };
  }
  await storeTiles(s.backend, grown.writes);
  await storeRevisionPointers(s.backend, from, added, !s.old);
  await storeCheckpointNote(s.backend, target, v.note);
  await moveLatest(s, signer, v);
  return v;
}

function hashesSame(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

function rootMismatch(s: LogWriterState, size: number): TlogError {
  return new TlogError(
    'TLOG_ROOT_MISMATCH',
    `${s.backend.description}: the stored entries 0..${size - 1} do not hash to the signed root of size ${size}: entries were rewritten or replaced after they were checkpointed`,
  );
}

/** Entries [from, to): the old way's snapshot where it has them, else the entry tags. */
async function entriesBetween(s: LogWriterState, from: number, to: number): Promise<LogEntry[]> {
  const idx = Array.from({ length: to - from }, (_, i) => from + i);
  const read = await mapLimited(idx, READ_CONCURRENCY, async (i) => s.old?.entries[i] ?? (await readEntry(s.backend, i)));
  const gone = read.indexOf(undefined);
  if (gone >= 0)
    throw new TlogError(
      'TLOG_ENTRY_MISSING',
      `${s.backend.description}: asked to checkpoint ${to} entries, but tlog.entry.${from + gone} is missing`,
    );
  return read as LogEntry[];
}

/**
 * tlog.revision.<r> for each entry (the first entry of a revision wins, as the old readers'
 * "first index" does): the entry's own manifest under a second tag, so no new blob. A pointer
 * already there is kept (`keep`: a tiled log's earlier checkpoints wrote it).
 */
async function storeRevisionPointers(backend: ContentBackend, from: number, added: LogEntry[], keep: boolean): Promise<void> {
  const first = new Map<number, number>();
  added.forEach((e, i) => {
    if (!first.has(e.revision)) first.set(e.revision, from + i);
  });
  await mapLimited([...first], READ_CONCURRENCY, async ([revision, index]) => {
    if (keep && (await backend.getManifest(revisionTag(revision)))) return;
    await backend.putManifest(revisionTag(revision), entryManifest(index, encodeEntry(added[index - from])), OCI_MANIFEST);
  });
}

/**
 * Moves tlog.checkpoint to `v` unless it already names a larger tree, then reads it back and
 * writes once more if a racing writer put a smaller one over it in between. Two writers can
 * still leave the smaller last (both read before either wrote): tlog.checkpoint then lags one
 * step behind tlog.checkpoint.<n>, a reader sees an older consistent checkpoint (one that
 * trusts the newer reads tlog.checkpoint.<n> instead: LogReader.latestCheckpoint's atLeast),
 * and the next append moves it on.
 */
async function moveLatest(s: LogWriterState, signer: NoteSigner, v: VerifiedCheckpoint): Promise<void> {
  const manifest = checkpointManifest(v.checkpoint.size, new Uint8Array(Buffer.from(v.note, 'utf8')));
  for (let round = 0; round < 2; round++) {
    const size = await latestSize(s, signer);
    if (size >= v.checkpoint.size) return;
    await s.backend.putManifest(LATEST_CHECKPOINT_TAG, manifest, OCI_MANIFEST);
  }
}

/** The size tlog.checkpoint names now (−1 when absent or not a checkpoint this key signed for this log): one GET. */
async function latestSize(s: LogWriterState, signer: NoteSigner): Promise<number> {
  try {
    const note = await storedNote(s.backend, LATEST_CHECKPOINT_TAG);
    return note === undefined ? -1 : verifyCheckpointNote(note, [parseVerifierKey(signer.verifierKey)], s.origin).checkpoint.size;
  } catch {
    return -1;
  }
}
