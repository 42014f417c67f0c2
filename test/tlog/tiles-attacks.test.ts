/**
 * TiledTree against a lying tile source: a flipped byte, a tile from another tree, a truncated
 * tile, a partial tile where a full one is asked (and a wider one where a partial is), a
 * missing tile — each refused with its own code (TLOG_TILE_MISMATCH, TLOG_TILE_MALFORMED,
 * TLOG_TILE_MISSING) and never a wrong proof returned; a forked log's proof fails the old
 * checkpoint. And the cost: the tiles a proof reads, counted, against the bound the tree's
 * shape gives — at a million leaves and at a trillion.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { emptyRoot, leafHash, nodeHash, rootOf, verifyConsistency, verifyInclusion } from '../../tlog/merkle.js';
import { growTiles, type HashTileId, TiledTree, type TileSource } from '../../tlog/tiles/index.js';
import { countingSource, lyingSource, merkleTiles } from './tile-sources.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const SIZE = 70_000; // three tile levels: 273 full + 1 partial at level 0, 1 full + 1 partial at level 1, 1 partial at level 2
const OLD = 40_000;
const LEAF = 12_345; // in full tile tile/0/048, whose parent is full tile tile/1/000

/** A log whose first 100 entries are the honest ones, then its own; its tiles built by tlog/merkle.ts (tile-sources.ts), not growTiles. */
function log(tag: string, n: number) {
  const entries = Array.from({ length: n }, (_, i) => enc(`${i < 100 ? 'e' : tag}${i}`));
  const tiles = merkleTiles(entries);
  return { entries, oldRoot: rootOf(tiles.leaves, OLD), root: tiles.root, writes: tiles, source: tiles.source };
}
type Log = ReturnType<typeof log>;
let honest: Log;
let other: Log; // same first 100 entries, then different ones
// built in a hook without the code under test: Stryker counts what hooks run as static and reruns every test for it
beforeAll(() => {
  honest = log('e', SIZE);
  other = log('other', SIZE);
});

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
    return { code: 'ok', message: '' };
  } catch (err) {
    return { code: (err as { code?: string }).code ?? String(err), message: (err as Error).message };
  }
}

const flip = (b: Uint8Array, at: number): Uint8Array => {
  const out = Uint8Array.from(b);
  out[at] ^= 1;
  return out;
};
const treeOver = (lie: Parameters<typeof lyingSource>[1]): TiledTree => new TiledTree(lyingSource(honest.source, lie), SIZE, honest.root);
/** every read a witness makes of the tree: a leaf's inclusion, an old checkpoint's consistency and root, entries */
const readAll = async (t: TiledTree) => {
  await t.inclusionProof(LEAF);
  await t.consistencyProof(OLD);
  await t.rootAt(OLD);
  return t.entries(12_287, LEAF + 1); // bundles 047 and 048
};

describe('a lying tile source', () => {
  const cases: Array<[string, Parameters<typeof lyingSource>[1], string, string]> = [
    [
      'a flipped byte in a full leaf tile',
      (p, h) => (p === 'tile/0/048' ? flip(h!, 100) : undefined),
      'TLOG_TILE_MISMATCH',
      'tile tile/0/048 does not hash to its entry in the level 1 tile of the tree of size 70000',
    ],
    [
      'a flipped byte in a full level-1 tile',
      (p, h) => (p === 'tile/1/000' ? flip(h!, 8191) : undefined),
      'TLOG_TILE_MISMATCH',
      'tile tile/1/000 does not hash to its entry in the level 2 tile',
    ],
    [
      'a flipped byte in the partial leaf tile',
      (p, h) => (p === 'tile/0/273.p/112' ? flip(h!, 0) : undefined),
      'TLOG_TILE_MISMATCH',
      'the right-edge tiles of the tree of size 70000 (tile/2/000.p/1, tile/1/001.p/17, tile/0/273.p/112) do not hash to its signed root',
    ],
    [
      'a flipped byte in the top tile',
      (p, h) => (p === 'tile/2/000.p/1' ? flip(h!, 31) : undefined),
      'TLOG_TILE_MISMATCH',
      'do not hash to its signed root',
    ],
    [
      "another tree's leaf tile",
      (p) => (p === 'tile/0/048' ? other.writes.get(p) : undefined),
      'TLOG_TILE_MISMATCH',
      'tile tile/0/048 does not hash',
    ],
    ["another tree's tiles, all of them", (p) => other.writes.get(p), 'TLOG_TILE_MISMATCH', 'do not hash to its signed root'],
    [
      'a truncated tile',
      (p, h) => (p === 'tile/0/048' ? h!.subarray(0, 8191) : undefined),
      'TLOG_TILE_MALFORMED',
      'tile tile/0/048 is 8191 bytes, not 256 hashes (8192 bytes)',
    ],
    [
      'a partial tile where a full one is asked',
      (p, h) => (p === 'tile/0/048' ? h!.subarray(0, 100 * 32) : undefined),
      'TLOG_TILE_MALFORMED',
      'tile tile/0/048 is 3200 bytes, not 256 hashes',
    ],
    [
      'a wider tile where a partial one is asked',
      (p, h) => (p === 'tile/1/001.p/17' ? Uint8Array.of(...h!, ...h!.subarray(0, 32)) : undefined),
      'TLOG_TILE_MALFORMED',
      'tile tile/1/001.p/17 is 576 bytes, not 17 hashes',
    ],
    ['an empty tile', (p) => (p === 'tile/1/000' ? new Uint8Array() : undefined), 'TLOG_TILE_MALFORMED', 'tile tile/1/000 is 0 bytes'],
    [
      'a missing leaf tile',
      (p) => (p === 'tile/0/048' ? 'absent' : undefined),
      'TLOG_TILE_MISSING',
      'tile tile/0/048 of the tree of size 70000 is missing',
    ],
    [
      'a missing edge tile',
      (p) => (p === 'tile/1/001.p/17' ? 'absent' : undefined),
      'TLOG_TILE_MISSING',
      'tile tile/1/001.p/17 of the tree of size 70000 is missing',
    ],
    [
      'a flipped byte in an entry bundle',
      (p, h) => (p === 'tile/entries/048' ? flip(h!, 3) : undefined),
      'TLOG_TILE_MISMATCH',
      'entry 12288 in tile/entries/048 is not the leaf the tree of size 70000 holds',
    ],
    [
      "another tree's entry bundle",
      (p) => (p === 'tile/entries/048' ? other.writes.get(p) : undefined),
      'TLOG_TILE_MISMATCH',
      'entry 12288 in tile/entries/048',
    ],
    [
      'a truncated entry bundle',
      (p, h) => (p === 'tile/entries/048' ? h!.subarray(0, h!.length - 1) : undefined),
      'TLOG_TILE_MALFORMED',
      'entry bundle ends inside entry 255',
    ],
    [
      'a missing entry bundle',
      (p) => (p === 'tile/entries/048' ? 'absent' : undefined),
      'TLOG_TILE_MISSING',
      'entry bundle tile/entries/048 of the tree of size 70000 is missing',
    ],
  ];
  for (const [what, lie, code, reason] of cases) {
    it(`${what}: ${code}, never a proof`, async () => {
      const r = await refusal(readAll(treeOver(lie)));
      expect(r.code).toBe(code);
      expect(r.message).toContain(reason);
    });
  }

  it('growTiles writes exactly the tiles tlog/merkle.ts builds for the same entries', async () => {
    const grown = await growTiles(undefined, 0, honest.entries);
    expect(grown.root).toEqual(honest.root);
    for (const w of grown.writes) expect([w.path, honest.writes.get(w.path)]).toEqual([w.path, w.bytes]);
    expect(grown.writes).toHaveLength(274 + 2 + 1 + 274);
  });

  it('the honest source passes every read the attacks make (so each refusal is the lie, not the setup)', async () => {
    const t = treeOver(() => undefined);
    expect(await readAll(t)).toEqual(honest.entries.slice(12_287, LEAF + 1));
    verifyInclusion(leafHash(honest.entries[LEAF]), LEAF, SIZE, await t.inclusionProof(LEAF), honest.root);
    verifyConsistency(OLD, SIZE, await t.consistencyProof(OLD), honest.oldRoot, honest.root);
    expect(await t.rootAt(OLD)).toEqual(honest.oldRoot);
  });

  it('any single flipped bit in any tile a proof reads is TLOG_TILE_MISMATCH', async () => {
    const { reads, source } = countingSource(honest.source);
    await readAll(new TiledTree(source, SIZE, honest.root));
    const read = reads.filter((p) => !p.startsWith('tile/entries/'));
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let k = 0; k < 60; k++) {
      const path = read[k % read.length];
      const at = next(honest.writes.get(path)!.length);
      const r = await refusal(readAll(treeOver((p, h) => (p === path ? flip(h!, at) : undefined))));
      expect([path, at, r.code]).toEqual([path, at, 'TLOG_TILE_MISMATCH']);
    }
  });

  it("a root that is not the tiles' is TLOG_TILE_MISMATCH on the first read", async () => {
    const r = await refusal(new TiledTree(honest.source, SIZE, other.root).leafHash(0));
    expect(r).toEqual({ code: 'TLOG_TILE_MISMATCH', message: expect.stringContaining('do not hash to its signed root') });
  });

  it("a forked log proves itself, but its consistency proof fails the old checkpoint's root (TLOG_BAD_PROOF)", async () => {
    const fork = log('fork', SIZE);
    const t = new TiledTree(fork.source, SIZE, fork.root);
    const proof = await t.consistencyProof(100);
    verifyConsistency(
      100,
      SIZE,
      proof,
      await new TiledTree(honest.source, SIZE, honest.root).rootAt(100), // the fork shares the first 100 entries
      fork.root,
    );
    const forked = await t.consistencyProof(OLD);
    expect(() => verifyConsistency(OLD, SIZE, forked, honest.oldRoot, fork.root)).toThrow(
      expect.objectContaining({ code: 'TLOG_BAD_PROOF' }),
    );
    expect(await t.rootAt(OLD)).not.toEqual(honest.oldRoot);
  });
});

/**
 * A tree of `size` identical leaves, served as tiles computed on demand: the tiles a proof
 * reads depend only on the tree's shape, so this shows the cost at sizes no test could grow.
 */
function uniformTree(size: number) {
  const leaf = leafHash(enc('same entry'));
  const levelHash = [leaf]; // the hash of 256^L leaves
  while (levelHash.length < 8) {
    let h = levelHash[levelHash.length - 1];
    for (let k = 0; k < 8; k++) h = nodeHash(h, h);
    levelHash.push(h);
  }
  const perfect = (height: number): Uint8Array => {
    let h = leaf;
    for (let k = 0; k < height; k++) h = nodeHash(h, h);
    return h;
  };
  const mth = (n: number): Uint8Array => {
    if (n === 0) return emptyRoot();
    let k = 1;
    let height = 0;
    while (k * 2 <= n) {
      k *= 2;
      height++;
    }
    return k === n ? perfect(height) : nodeHash(perfect(height), mth(n - k));
  };
  const source: TileSource = {
    hashTile: async (t: HashTileId) => {
      const count = Math.floor(size / 256 ** t.level);
      if (t.width !== Math.min(256, count - 256 * t.index) || t.width < 1) return undefined;
      const out = new Uint8Array(32 * t.width);
      for (let i = 0; i < t.width; i++) out.set(levelHash[t.level], 32 * i);
      return out;
    },
    bundle: async () => undefined,
  };
  return { leaf, root: mth(size), source, rootOf: mth };
}

describe('tiles a proof reads', () => {
  const levelsOf = (size: number): number => {
    let levels = 0;
    while (Math.floor(size / 256 ** levels) > 0) levels++;
    return levels;
  };

  for (const size of [1_000_000, 2 ** 40 + 12_345]) {
    it(`at ${size} leaves: an inclusion proof, a consistency proof and the old root read at most 3 tiles per tile level, each once`, async () => {
      const u = uniformTree(size);
      const levels = levelsOf(size);
      for (const [leaf, old] of [
        [0, 1],
        [123_456, 500_000],
        [size - 1, size - 1],
        [size - 300, 300],
        [Math.floor(size / 3), Math.floor(size / 2) + 7],
      ]) {
        const { reads, source } = countingSource(u.source);
        const t = new TiledTree(source, size, u.root);
        verifyInclusion(u.leaf, leaf, size, await t.inclusionProof(leaf), u.root);
        const oldRoot = await t.rootAt(old);
        expect(oldRoot).toEqual(u.rootOf(old));
        verifyConsistency(old, size, await t.consistencyProof(old), oldRoot, u.root);
        // per tile level: the tile holding the leaf's subtree, the one holding leaf old−1's, and the partial tile at the right edge
        expect(reads.length).toBeLessThanOrEqual(3 * levels);
        expect(new Set(reads).size).toBe(reads.length);
        // authenticated tiles stay trusted for the tree: asking again reads nothing
        const before = reads.length;
        await t.inclusionProof(leaf);
        await t.consistencyProof(old);
        expect(reads.length).toBe(before);
      }
      expect(levels).toBe(size === 1_000_000 ? 3 : 6);
    });
  }
});
