/**
 * A tiled log written directly with the tiles library and the tile store (tlog/tiles,
 * tlog/log/tiles-store.ts), the way a tiled append leaves it: entry tags (appends claim indices
 * with them), tiles and bundles, a tlog.revision.<r> pointer per revision, the checkpoint
 * under tlog.checkpoint.<n> and the latest under tlog.checkpoint. Readers' tests start from it
 * so they do not depend on the append's timing; the same entries can be written untiled
 * (entry tags and checkpoint tags only) to compare both ways of reading.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import {
  encodeEntry,
  formatCheckpoint,
  signNote,
  storeCheckpointNote,
  storeEntry,
  tiles,
  type LogEntry,
  type NoteSigner,
} from '../../tlog/index.js';
import { entryManifest } from '../../tlog/log/artifact.js';
import { LATEST_CHECKPOINT_TAG, revisionTag } from '../../tlog/log/layout.js';
import { registryTileSource, storeTiles } from '../../tlog/log/tiles-store.js';
import { putArtifactBlobs } from '../../tlog/log/store.js';
import { mapLimited } from '../../tlog/log/read.js';

/** Writes in flight at once: the fixture's hundreds of tags, written as a registry client would, not one by one. */
const WRITES = 8;

/** The pointer tlog.revision.<r> → leaf `index`: the entry's manifest annotated with that index, as checkpointing writes it. */
export async function storeRevisionPointer(backend: ContentBackend, entry: LogEntry, index: number): Promise<void> {
  const content = encodeEntry(entry);
  await putArtifactBlobs(backend, content);
  await backend.putManifest(revisionTag(entry.revision), entryManifest(index, content), OCI_MANIFEST);
}

/** Stores `note` as the latest checkpoint (tlog.checkpoint), as a tiled append does after its tiles. */
export async function storeLatestCheckpoint(backend: ContentBackend, size: number, note: string): Promise<void> {
  await storeCheckpointNote(backend, size, note);
  const m = (await backend.getManifest(`tlog.checkpoint.${size}`))!;
  await backend.putManifest(LATEST_CHECKPOINT_TAG, m.bytes, OCI_MANIFEST);
}

export interface WrittenLog {
  size: number;
  root: Uint8Array;
  note: string;
}

/**
 * Appends `added` to the tiled log of `entries` (the entries already in it), signs and stores
 * the new checkpoint; `entryTags: false` leaves the entry tags out (a log generated as tiles).
 */
export async function growTiledLog(
  backend: ContentBackend,
  signer: NoteSigner,
  entries: readonly LogEntry[],
  added: readonly LogEntry[],
  opts: { origin?: string; entryTags?: boolean; pointers?: boolean } = {},
): Promise<WrittenLog> {
  const old = entries.length;
  const source = old ? registryTileSource(backend) : undefined;
  const grown = await tiles.growTiles(source, old, added.map(encodeEntry));
  if (opts.entryTags !== false) await mapLimited([...added.entries()], WRITES, ([i, e]) => storeEntry(backend, old + i, e));
  await storeTiles(backend, grown.writes);
  if (opts.pointers !== false) await mapLimited([...added.entries()], WRITES, ([i, e]) => storeRevisionPointer(backend, e, old + i));
  const origin = opts.origin ?? backend.description;
  const note = signNote(formatCheckpoint({ origin, size: grown.size, root: grown.root, extensions: [] }), [signer]);
  await storeLatestCheckpoint(backend, grown.size, note);
  return { size: grown.size, root: grown.root, note };
}

/** The same entries as an untiled log: entry tags and one checkpoint tag, as logs were before tiles. */
export async function writeUntiledLog(
  backend: ContentBackend,
  signer: NoteSigner,
  entries: readonly LogEntry[],
  root: Uint8Array,
  origin = backend.description,
): Promise<string> {
  await mapLimited([...entries.entries()], WRITES, ([i, e]) => storeEntry(backend, i, e));
  const note = signNote(formatCheckpoint({ origin, size: entries.length, root, extensions: [] }), [signer]);
  await storeCheckpointNote(backend, entries.length, note);
  return note;
}
