/** TileSources for tests: one that records every read, and one that lets a test lie about chosen tiles. */
import { leafHash, rootOf } from '../../tlog/merkle.js';
import { bundlePath, hashTilePath, parseTilePath, type TileSource } from '../../tlog/tiles/index.js';

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

/**
 * The tiles and bundles of the tree over `entries`, built with tlog/merkle.ts alone (not
 * growTiles), so attack tests start from tiles the code under test did not write.
 */
export function merkleTiles(entries: readonly Uint8Array[]): {
  root: Uint8Array;
  leaves: Uint8Array[];
  source: TileSource;
  /** the bytes at a C2SP path */
  get(path: string): Uint8Array | undefined;
} {
  const byKey = new Map<string, Uint8Array>();
  const leaves = entries.map(leafHash);
  let row = leaves;
  for (let level = 0; row.length > 0; level++) {
    const up: Uint8Array[] = [];
    for (let at = 0; at < row.length; at += 256) {
      const hashes = row.slice(at, at + 256);
      byKey.set(`${level}/${at / 256}/${hashes.length}`, new Uint8Array(Buffer.concat(hashes)));
      if (hashes.length === 256) up.push(rootOf(hashes));
    }
    row = up;
  }
  for (let at = 0; at < entries.length; at += 256) {
    const chunk = entries.slice(at, at + 256);
    const bytes = Buffer.concat(chunk.flatMap((e) => [Buffer.of(e.length >> 8, e.length & 0xff), e]));
    byKey.set(`entries/${at / 256}/${chunk.length}`, new Uint8Array(bytes));
  }
  return {
    root: rootOf(leaves),
    leaves,
    source: {
      hashTile: async (t) => byKey.get(`${t.level}/${t.index}/${t.width}`),
      bundle: async (b) => byKey.get(`entries/${b.index}/${b.width}`),
    },
    get(path) {
      const t = parseTilePath(path);
      return byKey.get(t.kind === 'hash' ? `${t.level}/${t.index}/${t.width}` : `entries/${t.index}/${t.width}`);
    },
  };
}
