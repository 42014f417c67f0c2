/**
 * A tiled log generated directly as tiles (not by a million pushes), for the scale benches:
 * `generateTiledLog(n, entryOf)` grows the tree in chunks with growTiles and returns every
 * tile written (partial tiles of earlier sizes included, as a real log keeps them), the final
 * root, and the roots at the sizes asked for in `at` (for checkpoints of older sizes).
 */
import {
  type BundleId,
  bundlePath,
  growTiles,
  type HashTileId,
  hashTilePath,
  type TileSource,
  type TileWrite,
} from '../../tlog/tiles/index.js';

export interface GeneratedLog {
  size: number;
  root: Uint8Array;
  /** every tile written, by C2SP path */
  writes: Map<string, TileWrite>;
  /** the root at each size in `at` (and at n) */
  roots: Map<number, Uint8Array>;
  /** a TileSource over `writes` */
  source: TileSource;
}

const CHUNK = 65_536;

export async function generateTiledLog(n: number, entryOf: (i: number) => Uint8Array, at: readonly number[] = []): Promise<GeneratedLog> {
  const writes = new Map<string, TileWrite>();
  const source: TileSource = {
    hashTile: async (t: HashTileId) => writes.get(hashTilePath(t))?.bytes,
    bundle: async (b: BundleId) => writes.get(bundlePath(b))?.bytes,
  };
  const stops = [...new Set([...at.filter((s) => s > 0 && s < n), n])].sort((a, b) => a - b);
  const roots = new Map<number, Uint8Array>();
  let size = 0;
  let root: Uint8Array = new Uint8Array();
  for (const stop of stops) {
    while (size < stop) {
      const end = Math.min(stop, (Math.floor(size / CHUNK) + 1) * CHUNK);
      const added = Array.from({ length: end - size }, (_, i) => entryOf(size + i));
      const grown = await growTiles(source, size, added);
      for (const w of grown.writes) writes.set(w.path, w);
      size = grown.size;
      root = grown.root;
    }
    roots.set(stop, root);
  }
  return { size, root, writes, roots, source };
}
