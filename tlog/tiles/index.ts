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
 * needs as it grows (grow.ts); shape.ts holds the geometry and in-tile hashing they share,
 * cache.ts the in-memory sources. Storing tiles in a registry is tlog/log/tiles-store.ts.
 */
export { decodeBundle, encodeBundle } from './bundle.js';
export { cachedTileSource, memoryTileSource } from './cache.js';
export { growTiles } from './grow.js';
export { bundlePath, hashTilePath, parseTilePath } from './path.js';
export { TiledTree } from './tree.js';
export { type BundleId, type HashTileId, TILE_HEIGHT, TILE_WIDTH, type TileSource, type TileWrite } from './types.js';
