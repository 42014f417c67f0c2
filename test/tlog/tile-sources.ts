/** TileSources for tests: one that records every read, and one that lets a test lie about chosen tiles. */
import { bundlePath, hashTilePath, type TileSource } from '../../tlog/tiles/index.js';

/** Every read, by C2SP path, in order. */
export function countingSource(inner: TileSource): { reads: string[]; source: TileSource } {
  const reads: string[] = [];
  const source: TileSource = {
    hashTile: (t) => {
      reads.push(hashTilePath(t));
      return inner.hashTile(t);
    },
    bundle: (b) => {
      reads.push(bundlePath(b));
      return inner.bundle(b);
    },
  };
  return { reads, source };
}

/** Serves `inner` except where `lie` (by path) returns something else; undefined from lie serves the honest bytes. */
export function lyingSource(
  inner: TileSource,
  lie: (path: string, honest: Uint8Array | undefined) => Uint8Array | 'absent' | undefined,
): TileSource {
  const answer = async (path: string, honest: Promise<Uint8Array | undefined>) => {
    const bytes = await honest;
    const told = lie(path, bytes);
    if (told === 'absent') return undefined;
    return told ?? bytes;
  };
  return {
    hashTile: (t) => answer(hashTilePath(t), inner.hashTile(t)),
    bundle: (b) => answer(bundlePath(b), inner.bundle(b)),
  };
}
