/**
 * How a repository's transparency log is stored: in the same OCI repository as its archives,
 * using nothing but tags, manifests and blobs (so a plain distribution registry without the
 * referrers API holds it). docs/transparency.md has the byte-level description.
 *
 *   tlog.entry.<i>        leaf i (0-based): an OCI manifest, artifactType
 *                         application/vnd.gantry.log.entry.v1, whose one layer
 *                         (application/vnd.gantry.log.entry.v1+text) is the canonical entry
 *                         (tlog/entry.ts), also embedded as the descriptor's `data`
 *   tlog.checkpoint.<n>   the signed checkpoint of the tree of size n: artifactType
 *                         application/vnd.gantry.log.checkpoint.v1, one layer
 *                         (application/vnd.gantry.log.checkpoint.v1+note) holding the signed
 *                         note exactly as signed, also embedded as `data`
 *
 * The latest checkpoint is the one with the largest n. Building and reading these manifests:
 * artifact.ts; writing them: store.ts.
 */
import type { ContentBackend } from '../../registry/backend.js';
import { sha256Digest } from '../../registry/digest.js';

export const LOG_ENTRY_ARTIFACT_TYPE = 'application/vnd.gantry.log.entry.v1';
export const LOG_ENTRY_MEDIA_TYPE = 'application/vnd.gantry.log.entry.v1+text';
export const LOG_CHECKPOINT_ARTIFACT_TYPE = 'application/vnd.gantry.log.checkpoint.v1';
export const LOG_CHECKPOINT_MEDIA_TYPE = 'application/vnd.gantry.log.checkpoint.v1+note';
export const OCI_EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
/** Annotation on an entry manifest naming its index (so an entry moved to another index is seen). */
export const LOG_INDEX_ANNOTATION = 'dev.gantry.log.index';

export const EMPTY_CONFIG = new Uint8Array(Buffer.from('{}'));
export const EMPTY_DIGEST = sha256Digest(EMPTY_CONFIG);
export const ENTRY_TAG = /^tlog\.entry\.(0|[1-9][0-9]{0,15})$/;
export const CHECKPOINT_TAG = /^tlog\.checkpoint\.(0|[1-9][0-9]{0,15})$/;
/** The largest entry or checkpoint a log artifact may hold. */
export const MAX_LOG_BLOB_BYTES = 64 * 1024;

export function entryTag(index: number): string {
  return `tlog.entry.${index}`;
}

export function checkpointTag(size: number): string {
  return `tlog.checkpoint.${size}`;
}

/** The default origin line of a repository's log: `<host>/<repository>` (the backend's description). */
export function defaultOrigin(backend: ContentBackend): string {
  return backend.description;
}

/** An OCI descriptor as a log manifest holds it. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  data?: string;
  annotations?: Record<string, string>;
}

// ── Tiles (issue 34; docs/transparency.md "Tiles") ──────────────────────────────────────────
// A log also stores its tree as C2SP tlog-tiles (tlog/tiles/), one tag per tile, so a reader
// fetches O(log n) tiles instead of every entry. Tiles are immutable: a tag always names the
// same bytes. Entry tags (tlog.entry.<i>) stay: appends claim indices with them.
export const LOG_TILE_ARTIFACT_TYPE = 'application/vnd.gantry.log.tile.v1';
/** a hash tile's layer: W × 32-byte hashes */
export const LOG_HASH_TILE_MEDIA_TYPE = 'application/vnd.gantry.log.tile.v1+hashes';
/** an entry bundle's layer: C2SP entry bundle (uint16 length ‖ entry, repeated) */
export const LOG_BUNDLE_MEDIA_TYPE = 'application/vnd.gantry.log.tile.v1+entries';
/** The largest tile layer: an entry bundle of 256 entries (an entry is ≤ 64 KiB, in practice ~300 bytes). */
export const MAX_TILE_BLOB_BYTES = 1024 * 1024;
/** tlog.tile.<L>.<N>[.p.<W>]: hash tile (level L, index N, width W; full tiles have no .p) */
export const TILE_TAG = /^tlog\.tile\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,15})(?:\.p\.([1-9][0-9]{0,2}))?$/;
/** tlog.bundle.<N>[.p.<W>]: entry bundle */
export const BUNDLE_TAG = /^tlog\.bundle\.(0|[1-9][0-9]{0,15})(?:\.p\.([1-9][0-9]{0,2}))?$/;
/** The latest checkpoint (C2SP's `checkpoint`), a mutable tag beside the immutable tlog.checkpoint.<n>. */
export const LATEST_CHECKPOINT_TAG = 'tlog.checkpoint';
/** tlog.revision.<r>: which leaf logs revision r (annotation dev.gantry.log.index); a reader checks it against the tree, so a lying pointer only fails. */
export const REVISION_TAG = /^tlog\.revision\.(0|[1-9][0-9]{0,15})$/;
/** The sequencer's lease (tlog/sequencer/): while present, appends go through the sequencer it names. */
export const SEQUENCER_TAG = 'tlog.sequencer';

export function tileTag(level: number, index: number, width: number): string {
  return width === 256 ? `tlog.tile.${level}.${index}` : `tlog.tile.${level}.${index}.p.${width}`;
}

export function bundleTag(index: number, width: number): string {
  return width === 256 ? `tlog.bundle.${index}` : `tlog.bundle.${index}.p.${width}`;
}

export function revisionTag(revision: number): string {
  return `tlog.revision.${revision}`;
}
