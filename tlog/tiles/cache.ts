/**
 * Tile sources that hold tiles in memory. A tile's path always names the same bytes (tiles are
 * immutable; a partial tile of another width has another path), so a cache never goes stale —
 * and never vouches for bytes: TiledTree authenticates whatever a source returns.
 */
import { bundlePath, hashTilePath } from './path.js';
import type { BundleId, HashTileId, TileSource, TileWrite } from './types.js';

/** A TileSource that keeps up to `maxTiles` tiles it has read (tiles are immutable: a path always names the same bytes). */
export function cachedTileSource(source: TileSource, maxTiles = 4096): TileSource {
  // insertion order is recency order: a hit is moved to the end, the first key is the oldest
  const held = new Map<string, Promise<Uint8Array | undefined>>();
  const get = (path: string, read: () => Promise<Uint8Array | undefined>): Promise<Uint8Array | undefined> => {
    const hit = held.get(path);
    if (hit) {
      held.delete(path);
      held.set(path, hit);
      return hit;
    }
    const p = read().then(
      (bytes) => {
        // an absent tile may appear later: only bytes are kept
        if (bytes === undefined) held.delete(path);
        return bytes;
      },
      (err: unknown) => {
        held.delete(path);
        throw err;
      },
    );
    held.set(path, p);
    while (held.size > maxTiles) held.delete(held.keys().next().value!);
    return p;
  };
  return {
    hashTile: (t: HashTileId) => get(hashTilePath(t), () => source.hashTile(t)),
    bundle: (b: BundleId) => get(bundlePath(b), () => source.bundle(b)),
  };
}

/** A TileSource over tiles held in memory (by path), e.g. growTiles' writes. */
export function memoryTileSource(writes: Iterable<TileWrite>): TileSource {
  const byPath = new Map<string, Uint8Array>();
  for (const w of writes) byPath.set(w.path, w.bytes);
  return {
    hashTile: async (t: HashTileId) => byPath.get(hashTilePath(t)),
    bundle: async (b: BundleId) => byPath.get(bundlePath(b)),
  };
}
