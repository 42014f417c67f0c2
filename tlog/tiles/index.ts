/**
 * C2SP tlog-tiles (https://c2sp.org/tlog-tiles, the format of Go's checksum database and of
 * Sigstore's newer logs): a log's Merkle tree stored as immutable tiles, so a reader fetches
 * only the O(log n) tiles a proof needs instead of every leaf.
 *
 *   hash tile    tile/<L>/<N>[.p/<W>]          W (1..256) hashes of Merkle level 8·L, indices
 *                                              256·N … 256·N+W−1, concatenated (32 bytes each);
 *                                              a full tile has W = 256 and no .p/ suffix
 *   entry bundle tile/entries/<N>[.p/<W>]     entries 256·N … 256·N+W−1, each as a big-endian
 *                                              uint16 length followed by the entry bytes
 *   <N> is written in groups of three digits, every group but the last prefixed with "x"
 *   (1234067 → x001/x234/067).
 *
 * This folder is pure (no registry): paths (path.ts), bundles (bundle.ts), reading proofs from
 * tiles with every hash authenticated against a signed root (tree.ts), and the tiles a tree
 * needs as it grows (grow.ts). Storing tiles in a registry is tlog/log/tiles-store.ts.
 *
 * CONTRACT (integ-34): the signatures below are the shared contract; the bodies are built on
 * branch t1-tiles.
 */
import { TlogError } from '../errors.js';

/** Tile height 8: a full tile holds 256 hashes. */
export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;

/** A hash tile: tile level `level` (Merkle levels 8·level … 8·level+7), index `index`, `width` hashes (1..256) of Merkle level 8·level. */
export interface HashTileId {
  level: number;
  index: number;
  width: number;
}

/** An entry bundle: entries 256·index … 256·index+width−1. */
export interface BundleId {
  index: number;
  width: number;
}

/** Where a reader gets tiles; undefined when the tile is absent. A source may serve a wider tile than asked only if the caller said so — it returns exactly the tile named. */
export interface TileSource {
  hashTile(t: HashTileId): Promise<Uint8Array | undefined>;
  bundle(b: BundleId): Promise<Uint8Array | undefined>;
}

/** One tile to store after the tree grew: its C2SP path, its id and its bytes. */
export type TileWrite =
  | { kind: 'hash'; path: string; id: HashTileId; bytes: Uint8Array }
  | { kind: 'entries'; path: string; id: BundleId; bytes: Uint8Array };

const NOT_BUILT = (what: string): never => {
  throw new TlogError('TLOG_BAD_INDEX', `${what}: not built yet (branch t1-tiles)`);
};

/** The C2SP path of a hash tile: `tile/<L>/<N>[.p/<W>]`. */
export function hashTilePath(t: HashTileId): string {
  return NOT_BUILT(`hashTilePath ${t.level}`);
}

/** The C2SP path of an entry bundle: `tile/entries/<N>[.p/<W>]`. */
export function bundlePath(b: BundleId): string {
  return NOT_BUILT(`bundlePath ${b.index}`);
}

/** Parses a C2SP tile path; anything else is TLOG_TILE_MALFORMED. */
export function parseTilePath(path: string): ({ kind: 'hash' } & HashTileId) | ({ kind: 'entries' } & BundleId) {
  return NOT_BUILT(`parseTilePath ${path}`);
}

/** An entry bundle's bytes (TLOG_TILE_MALFORMED for an entry over 65,535 bytes). */
export function encodeBundle(entries: readonly Uint8Array[]): Uint8Array {
  return NOT_BUILT(`encodeBundle ${entries.length}`);
}

/** The `width` entries of a bundle; anything but exactly `width` well-formed entries is TLOG_TILE_MALFORMED. */
export function decodeBundle(bytes: Uint8Array, width: number): Uint8Array[] {
  return NOT_BUILT(`decodeBundle ${bytes.length} ${width}`);
}

/**
 * The tree of `size` leaves whose root a verified checkpoint gives. Every hash it reads from
 * tiles is authenticated against `root` before use (as Go's tlog.TileHashReader does): tiles
 * that do not hash to it are TLOG_TILE_MISMATCH, an absent tile TLOG_TILE_MISSING. Proofs it
 * returns verify with tlog/merkle.ts against `root`.
 */
export class TiledTree {
  constructor(
    readonly source: TileSource,
    readonly size: number,
    readonly root: Uint8Array,
  ) {}

  /** The RFC 6962 inclusion proof of leaf `index` (< size) in this tree. */
  async inclusionProof(index: number): Promise<Uint8Array[]> {
    return NOT_BUILT(`inclusionProof ${index}`);
  }

  /** The RFC 6962 consistency proof from the tree of `oldSize` (0 < oldSize ≤ size) to this one. */
  async consistencyProof(oldSize: number): Promise<Uint8Array[]> {
    return NOT_BUILT(`consistencyProof ${oldSize}`);
  }

  /** The root of the first `n` leaves (n ≤ size), authenticated through this tree's root. */
  async rootAt(n: number): Promise<Uint8Array> {
    return NOT_BUILT(`rootAt ${n}`);
  }

  /** The hash of leaf `index`, authenticated. */
  async leafHash(index: number): Promise<Uint8Array> {
    return NOT_BUILT(`leafHash ${index}`);
  }

  /** Entry bytes of leaves [from, to), each authenticated (its leaf hash is the tree's). */
  async entries(from: number, to: number): Promise<Uint8Array[]> {
    return NOT_BUILT(`entries ${from} ${to}`);
  }
}

/**
 * The tiles to store after the tree grows from `oldSize` leaves by the entries `added`: every
 * new or wider hash tile and entry bundle, with its bytes, plus the new size and root.
 * `source` supplies the old tree's partial tiles at its right edge (undefined when oldSize
 * is 0). Fast enough to generate a 1,000,000-entry log in memory for the bench.
 */
export async function growTiles(
  source: TileSource | undefined,
  oldSize: number,
  added: readonly Uint8Array[],
): Promise<{ writes: TileWrite[]; size: number; root: Uint8Array }> {
  return NOT_BUILT(`growTiles ${source ? 'with' : 'without'} source ${oldSize} ${added.length}`);
}

/** A TileSource that keeps up to `maxTiles` tiles it has read (tiles are immutable: a path always names the same bytes). */
export function cachedTileSource(source: TileSource, maxTiles = 4096): TileSource {
  return NOT_BUILT(`cachedTileSource ${maxTiles} ${typeof source}`);
}

/** A TileSource over tiles held in memory (by path), e.g. growTiles' writes. */
export function memoryTileSource(writes: Iterable<TileWrite>): TileSource {
  return NOT_BUILT(`memoryTileSource ${typeof writes}`);
}
