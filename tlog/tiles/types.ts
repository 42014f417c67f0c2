/** The C2SP tlog-tiles shapes every file of this folder shares (index.ts re-exports them). */

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
