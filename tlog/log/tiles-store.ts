/**
 * A log's C2SP tiles in its OCI repository (layout.ts, docs/transparency.md "Tiles"): one
 * manifest per tile under tlog.tile.<L>.<N>[.p.<W>] / tlog.bundle.<N>[.p.<W>], the tile's bytes
 * its one layer, also embedded as the descriptor's `data` — so reading a tile is one manifest
 * GET. Nothing read here is trusted: tlog/tiles' TiledTree authenticates every hash against a
 * signed root; this layer only refuses what is not a tile at all (TLOG_TILE_MALFORMED).
 */
import type { ContentBackend } from '../../registry/backend.js';
import { sha256Digest } from '../../registry/digest.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import type { BundleId, HashTileId, TileSource, TileWrite } from '../tiles/index.js';
import { TlogError } from '../errors.js';
import { layerContent, manifestFor } from './artifact.js';
import {
  bundleTag,
  EMPTY_CONFIG,
  EMPTY_DIGEST,
  LOG_BUNDLE_MEDIA_TYPE,
  LOG_HASH_TILE_MEDIA_TYPE,
  LOG_TILE_ARTIFACT_TYPE,
  MAX_TILE_BLOB_BYTES,
  tileTag,
} from './layout.js';
import { mapLimited } from './read.js';

/** Tile writes in flight at once. */
export const TILE_WRITE_CONCURRENCY = 8;

const HASH_BYTES = 32;

/** The tag a tile is stored under. */
export function tagOfTile(w: Pick<TileWrite, 'kind' | 'id'>): string {
  return w.kind === 'hash' ? tileTag((w.id as HashTileId).level, w.id.index, w.id.width) : bundleTag(w.id.index, w.id.width);
}

/**
 * The manifest of a tile: its layer titled with the C2SP path, `/` turned to `-`
 * (tile/0/x001/234.p/5 → tile-0-x001-234.p-5), since oras writes a title as a file name.
 */
export function tileManifest(w: TileWrite): Uint8Array {
  const mediaType = w.kind === 'hash' ? LOG_HASH_TILE_MEDIA_TYPE : LOG_BUNDLE_MEDIA_TYPE;
  return manifestFor(LOG_TILE_ARTIFACT_TYPE, mediaType, w.bytes, w.path.replaceAll('/', '-'));
}

/** Reads one tile's bytes (undefined when its tag is absent), refusing anything that is not a tile of that shape. */
async function readTile(backend: ContentBackend, tag: string, mediaType: string): Promise<Uint8Array | undefined> {
  const m = await backend.getManifest(tag);
  if (!m) return undefined;
  const { content } = await layerContent(backend, m.bytes, LOG_TILE_ARTIFACT_TYPE, mediaType, `${backend.description}:${tag}`, {
    maxBytes: MAX_TILE_BLOB_BYTES,
    code: 'TLOG_TILE_MALFORMED',
  });
  return content;
}

/**
 * Tiles as the repository serves them: one manifest GET per tile. A partial hash tile that is
 * absent is read from the full tile when that exists (C2SP lets a log drop partial tiles once
 * full; its first W hashes are the partial tile's).
 */
export function registryTileSource(backend: ContentBackend): TileSource {
  return {
    async hashTile(t: HashTileId): Promise<Uint8Array | undefined> {
      const tag = tileTag(t.level, t.index, t.width);
      let bytes = await readTile(backend, tag, LOG_HASH_TILE_MEDIA_TYPE);
      let width = t.width;
      if (!bytes && t.width < 256) {
        bytes = await readTile(backend, tileTag(t.level, t.index, 256), LOG_HASH_TILE_MEDIA_TYPE);
        width = 256;
      }
      if (!bytes) return undefined;
      if (bytes.length !== width * HASH_BYTES) {
        throw new TlogError(
          'TLOG_TILE_MALFORMED',
          `${backend.description}:${tag} holds ${bytes.length} bytes, not the ${width} hashes of ${width * HASH_BYTES} bytes its tag names`,
        );
      }
      return bytes.subarray(0, t.width * HASH_BYTES);
    },
    async bundle(b: BundleId): Promise<Uint8Array | undefined> {
      return readTile(backend, bundleTag(b.index, b.width), LOG_BUNDLE_MEDIA_TYPE);
    },
  };
}

/**
 * Stores tiles: each one's blobs, then its manifest under its tag, TILE_WRITE_CONCURRENCY at a
 * time. Tiles are immutable and content-determined (the same tree gives the same bytes), so
 * writing one twice — two appends racing, a retry — stores the same manifest.
 */
export async function storeTiles(backend: ContentBackend, writes: readonly TileWrite[]): Promise<void> {
  // Stryker disable next-line ConditionalExpression: nothing to write costs one config upload at most
  if (writes.length === 0) return;
  // the empty config every tile manifest names, once (the registry checks it exists on each manifest PUT)
  await backend.putBlob(EMPTY_DIGEST, EMPTY_CONFIG);
  await mapLimited(writes, TILE_WRITE_CONCURRENCY, async (w) => {
    await backend.putBlob(sha256Digest(w.bytes), w.bytes);
    await backend.putManifest(tagOfTile(w), tileManifest(w), OCI_MANIFEST);
  });
}
