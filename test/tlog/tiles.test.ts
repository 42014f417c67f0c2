/**
 * tlog/tiles on its own: C2SP paths (the spec's and Tessera's examples, every canonical form,
 * every refusal with its reason), entry bundles (exact bytes, strict decoding), growTiles
 * against tlog/merkle.ts at every step of a growing log, TiledTree's proofs, roots and
 * entries against tlog/merkle.ts for every index of small trees, and the caching sources.
 */
import { describe, expect, it } from 'vitest';
import {
  consistencyProof,
  emptyRoot,
  inclusionProof,
  leafHash,
  rootOf,
  rootsOf,
  verifyConsistency,
  verifyInclusion,
} from '../../tlog/merkle.js';
import {
  bundlePath,
  cachedTileSource,
  decodeBundle,
  encodeBundle,
  growTiles,
  hashTilePath,
  memoryTileSource,
  parseTilePath,
  TiledTree,
  type TileSource,
  type TileWrite,
} from '../../tlog/tiles/index.js';
import { refusalOf } from './code-of.js';
import { countingSource, lyingSource } from './tile-sources.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const flip = (b: Uint8Array, at: number): Uint8Array => {
  const out = Uint8Array.from(b);
  out[at] ^= 1;
  return out;
};
const entriesOf = (n: number, tag = 'e'): Uint8Array[] => Array.from({ length: n }, (_, i) => enc(`${tag}${i}`));

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
    return { code: 'ok', message: '' };
  } catch (err) {
    return { code: (err as { code?: string }).code ?? String(err), message: (err as Error).message };
  }
}

describe('tile paths', () => {
  it("spells indices as C2SP's example does (1234067 → x001/x234/067) and names partial tiles .p/<W>", () => {
    expect(hashTilePath({ level: 0, index: 1234067, width: 256 })).toBe('tile/0/x001/x234/067');
    expect(hashTilePath({ level: 2, index: 1234067, width: 8 })).toBe('tile/2/x001/x234/067.p/8');
    // Tessera's layout.EntriesPath(1234067, 8)
    expect(bundlePath({ index: 1234067, width: 8 })).toBe('tile/entries/x001/x234/067.p/8');
    expect(bundlePath({ index: 0, width: 256 })).toBe('tile/entries/000');
    expect(hashTilePath({ level: 63, index: 999, width: 255 })).toBe('tile/63/999.p/255');
    expect(hashTilePath({ level: 1, index: 1000, width: 1 })).toBe('tile/1/x001/000.p/1');
    expect(hashTilePath({ level: 0, index: 1_000_000, width: 256 })).toBe('tile/0/x001/x000/000');
  });

  it('parses every path it writes back to the same tile', () => {
    for (const index of [0, 1, 9, 10, 999, 1000, 1001, 65_535, 1_000_000, 1234067, Number.MAX_SAFE_INTEGER]) {
      for (const width of [1, 2, 128, 255, 256]) {
        expect(parseTilePath(hashTilePath({ level: 5, index, width }))).toEqual({ kind: 'hash', level: 5, index, width });
        expect(parseTilePath(bundlePath({ index, width }))).toEqual({ kind: 'entries', index, width });
      }
    }
    expect(parseTilePath('tile/0/000')).toEqual({ kind: 'hash', level: 0, index: 0, width: 256 });
    expect(parseTilePath('tile/63/000')).toEqual({ kind: 'hash', level: 63, index: 0, width: 256 });
    expect(parseTilePath('tile/10/x001/x000/999.p/3')).toEqual({ kind: 'hash', level: 10, index: 1_000_999, width: 3 });
  });

  it('refuses every non-canonical or foreign path with what is wrong (TLOG_TILE_MALFORMED)', () => {
    const cases: Array<[string, string]> = [
      ['', 'is not a tile path'],
      ['tile/0', 'is not a tile path'],
      ['tiles/0/000', 'is not a tile path'],
      ['tile/0/', 'is not three digits'],
      ['tile/0/1', 'is not three digits'],
      ['tile/0/0001', 'is not three digits'],
      ['tile/0/abc', 'is not three digits'],
      ['tile/0/x001', 'is not three digits'],
      ['tile/0/001/002', '"x" and three digits'],
      ['tile/0/x01/002', '"x" and three digits'],
      ['tile/0/x000/001', 'leading zero group'],
      ['tile/0/x0012/000', 'index element "x0012" is not "x" and three digits'],
      ['tile/0/yx001/000', 'index element "yx001"'],
      ['tile/0/000/', '"x" and three digits'],
      ['tile/00/000', 'level "00"'],
      ['tile/64/000', 'level "64"'],
      ['tile/-1/000', 'level "-1"'],
      ['tile/data/000', 'level "data"'],
      ['tile/8/0/000', '"x" and three digits'],
      ['tile/0/000.p/0', 'partial width 0'],
      ['tile/0/000.p/256', 'partial width 256 is not in 1..255'],
      ['tile/0/000.p/01', 'partial width "01"'],
      ['tile/0/000.p/', 'partial width ""'],
      ['tile/0/000.p', 'is not three digits'],
      ['tile/0/.p/5', 'is not three digits'],
      ['tile/entries/000.p/1/2', 'index element "000.p"'],
      ['tile/0/x009/x007/x199/x254/x740/992', 'too large'],
    ];
    for (const [path, reason] of cases) {
      const r = refusalOf(() => parseTilePath(path));
      expect([path, r.code]).toEqual([path, 'TLOG_TILE_MALFORMED']);
      expect(r.message).toContain(reason);
    }
  });

  it('refuses to name a tile outside the format', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => hashTilePath({ level: -1, index: 0, width: 1 }), 'level -1'],
      [() => hashTilePath({ level: 64, index: 0, width: 1 }), 'level 64'],
      [() => hashTilePath({ level: 0.5, index: 0, width: 1 }), 'level 0.5'],
      [() => hashTilePath({ level: 0, index: -1, width: 1 }), 'tile index -1'],
      [() => hashTilePath({ level: 0, index: 2.5, width: 1 }), 'index 2.5'],
      [() => hashTilePath({ level: 0, index: 2 ** 53, width: 1 }), 'index 9007199254740992'],
      [() => hashTilePath({ level: 0, index: 0, width: 0 }), 'tile width 0'],
      [() => hashTilePath({ level: 0, index: 0, width: 257 }), 'width 257'],
      [() => hashTilePath({ level: 0, index: 0, width: 1.5 }), 'width 1.5'],
      [() => bundlePath({ index: -1, width: 1 }), 'bundle index -1'],
      [() => bundlePath({ index: 0, width: 0 }), 'bundle width 0'],
    ];
    for (const [fn, reason] of cases) {
      const r = refusalOf(fn);
      expect(r.code).toBe('TLOG_TILE_MALFORMED');
      expect(r.message).toContain(reason);
    }
  });
});

describe('entry bundles', () => {
  it('writes each entry as a big-endian uint16 length and its bytes', () => {
    expect(Buffer.from(encodeBundle([Uint8Array.of(1, 2), new Uint8Array(), Uint8Array.of(9)])).toString('hex')).toBe(
      '00020102000000010' + '9',
    );
    const big = new Uint8Array(0xffff).fill(7);
    const bytes = encodeBundle([big, Uint8Array.of(1)]);
    expect([bytes[0], bytes[1], bytes.length]).toEqual([0xff, 0xff, 2 + 0xffff + 3]);
    expect(decodeBundle(bytes, 2)).toEqual([big, Uint8Array.of(1)]);
    expect(decodeBundle(Uint8Array.of(0, 1, 5, 0, 0), 2)).toEqual([Uint8Array.of(5), new Uint8Array()]);
  });

  it('refuses an entry over 65,535 bytes', () => {
    const r = refusalOf(() => encodeBundle([Uint8Array.of(1), new Uint8Array(0x10000)]));
    expect(r).toEqual({ code: 'TLOG_TILE_MALFORMED', message: expect.stringContaining('entry 1 is 65536 bytes') });
  });

  it('decodes exactly `width` entries and refuses anything else, saying what is wrong', () => {
    const good = encodeBundle(entriesOf(3));
    expect(decodeBundle(good, 3).map((e) => new TextDecoder().decode(e))).toEqual(['e0', 'e1', 'e2']);
    const cases: Array<[Uint8Array, number, string]> = [
      [good, 2, 'entry bundle has 4 bytes after its 2 entries'],
      [good, 4, 'holds 3 entries, not 4'],
      [good.subarray(0, good.length - 1), 3, 'ends inside entry 2 (2 bytes announced, 1 left)'],
      [Uint8Array.of(...good, 0), 4, 'ends inside the length of entry 3'],
      [new Uint8Array(), 1, 'holds 0 entries, not 1'],
      [good, 0, 'width 0'],
      [good, 257, 'width 257'],
    ];
    for (const [bytes, width, reason] of cases) {
      const r = refusalOf(() => decodeBundle(bytes, width));
      expect(r.code).toBe('TLOG_TILE_MALFORMED');
      expect(r.message).toContain(reason);
    }
  });
});

describe('growTiles', () => {
  it('grows a log step by step exactly as tlog/merkle.ts computes it, every write named by its own path', async () => {
    const entries = entriesOf(70_000);
    entries[300] = new Uint8Array(5000).fill(3); // longer than the leaf hash's first buffer
    entries[301] = new Uint8Array(65_535).fill(4);
    const leaves = entries.map(leafHash);
    const steps = [1, 255, 1, 300, 65_000, 4443];
    const roots = rootsOf(
      leaves,
      steps.map((_, i) => steps.slice(0, i + 1).reduce((a, b) => a + b)),
    );
    const writes = new Map<string, TileWrite>();
    const source: TileSource = {
      hashTile: async (t) => writes.get(hashTilePath(t))?.bytes,
      bundle: async (b) => writes.get(bundlePath(b))?.bytes,
    };
    let size = 0;
    let root = emptyRoot();
    for (const step of steps) {
      const g = await growTiles(source, size, entries.slice(size, size + step), size ? root : undefined);
      for (const w of g.writes) {
        expect(w.path).toBe(w.kind === 'hash' ? hashTilePath(w.id) : bundlePath(w.id));
        expect(writes.has(w.path)).toBe(false);
        writes.set(w.path, w);
      }
      expect(g.size).toBe(size + step);
      const oldSize = size;
      const oldRoot = root;
      size = g.size;
      root = g.root;
      expect(root).toEqual(roots.get(size));
      const tree = new TiledTree(source, size, root);
      for (const i of [0, size - 1, Math.floor(size / 2)]) verifyInclusion(leaves[i], i, size, await tree.inclusionProof(i), root);
      if (oldSize > 0) verifyConsistency(oldSize, size, await tree.consistencyProof(oldSize), oldRoot, root);
      expect(await tree.entries(Math.max(size - 3, 0), size)).toEqual(entries.slice(Math.max(0, size - 3), size));
    }
  });

  it('writes the new and widened tiles only, and the bundles hold the entries', async () => {
    const entries = entriesOf(600);
    const first = await growTiles(undefined, 0, entries.slice(0, 255));
    expect(first.writes.map((w) => w.path)).toEqual(['tile/entries/000.p/255', 'tile/0/000.p/255']);
    const next = await growTiles(memoryTileSource(first.writes), 255, entries.slice(255), first.root);
    expect(next.writes.map((w) => w.path)).toEqual([
      'tile/entries/000',
      'tile/entries/001',
      'tile/entries/002.p/88',
      'tile/0/000',
      'tile/0/001',
      'tile/0/002.p/88',
      'tile/1/000.p/2',
    ]);
    expect(next.writes.map((w) => w.kind)).toEqual(['entries', 'entries', 'entries', 'hash', 'hash', 'hash', 'hash']);
    const bundle = next.writes.find((w) => w.path === 'tile/entries/002.p/88')!;
    expect(decodeBundle(bundle.bytes, 88)).toEqual(entries.slice(512));
  });

  it('adds nothing for no entries, keeping the root', async () => {
    const g = await growTiles(undefined, 0, entriesOf(300));
    expect(await growTiles(memoryTileSource(g.writes), 300, [], g.root)).toEqual({ writes: [], size: 300, root: g.root });
    expect((await growTiles(memoryTileSource(g.writes), 300, [])).root).toEqual(g.root);
    expect(await growTiles(undefined, 0, [])).toEqual({ writes: [], size: 0, root: emptyRoot() });
  });

  it('refuses to grow from a missing, malformed or tampered edge, or from a bad size', async () => {
    const g = await growTiles(undefined, 0, entriesOf(300));
    const all = memoryTileSource(g.writes);
    const without = (path: string): TileSource => memoryTileSource(g.writes.filter((w) => w.path !== path));
    const cases: Array<[() => Promise<unknown>, string, string]> = [
      [() => growTiles(undefined, 300, entriesOf(1)), 'TLOG_TILE_MISSING', 'tile tile/1/000.p/1 of the tree of size 300 is missing'],
      [() => growTiles(without('tile/0/001.p/44'), 300, entriesOf(1)), 'TLOG_TILE_MISSING', 'tile/0/001.p/44'],
      [() => growTiles(without('tile/entries/001.p/44'), 300, entriesOf(1)), 'TLOG_TILE_MISSING', 'entry bundle tile/entries/001.p/44'],
      [() => growTiles(all, 300, entriesOf(1), new Uint8Array(32)), 'TLOG_TILE_MISMATCH', 'do not hash to its root'],
      [() => growTiles(all, 300, [], new Uint8Array(32)), 'TLOG_TILE_MISMATCH', 'do not hash to its root'],
      [
        () =>
          growTiles(
            lyingSource(all, (path, honest) => (path === 'tile/0/001.p/44' ? honest!.subarray(32) : undefined)),
            300,
            entriesOf(1),
          ),
        'TLOG_TILE_MALFORMED',
        'tile tile/0/001.p/44 is 1376 bytes, not 44 hashes (1408 bytes)',
      ],
      [
        () =>
          growTiles(
            lyingSource(all, (path, honest) => (path === 'tile/entries/001.p/44' ? flip(honest!, honest!.length - 1) : undefined)),
            300,
            entriesOf(1),
            g.root,
          ),
        'TLOG_TILE_MISMATCH',
        'entry 299 in the partial bundle of the tree of size 300 is not the leaf its tile holds',
      ],
      [
        () =>
          growTiles(
            lyingSource(all, (path) => (path === 'tile/entries/001.p/44' ? encodeBundle(entriesOf(44, 'x')) : undefined)),
            300,
            entriesOf(1),
          ),
        'TLOG_TILE_MISMATCH',
        'entry 256 in the partial bundle',
      ],
      [() => growTiles(all, -1, entriesOf(1)), 'TLOG_BAD_INDEX', 'old tree size -1'],
      [() => growTiles(all, 1.5, entriesOf(1)), 'TLOG_BAD_INDEX', 'old tree size 1.5'],
      [() => growTiles(undefined, 0, [new Uint8Array(0x10000)]), 'TLOG_TILE_MALFORMED', 'entry 0 is 65536 bytes'],
    ];
    for (const [p, code, reason] of cases) {
      const r = await refusal(p());
      expect(r.code).toBe(code);
      expect(r.message).toContain(reason);
    }
  });
});

describe('TiledTree', () => {
  it('gives every inclusion proof, consistency proof, prefix root and leaf of small trees as tlog/merkle.ts does', async () => {
    const entries = entriesOf(300);
    const leaves = entries.map(leafHash);
    for (const size of [1, 2, 3, 5, 8, 13, 255, 256, 257, 300]) {
      const g = await growTiles(undefined, 0, entries.slice(0, size));
      const tree = new TiledTree(memoryTileSource(g.writes), size, g.root);
      const step = size > 20 ? 17 : 1;
      for (let i = 0; i < size; i += step) {
        expect(await tree.inclusionProof(i)).toEqual(inclusionProof(leaves, i, size));
        expect(await tree.leafHash(i)).toEqual(leaves[i]);
        expect(await tree.consistencyProof(i + 1)).toEqual(consistencyProof(leaves, i + 1, size));
        expect(await tree.rootAt(i)).toEqual(rootOf(leaves, i));
      }
      expect(await tree.rootAt(size)).toEqual(g.root);
      expect(await tree.inclusionProof(size - 1)).toEqual(inclusionProof(leaves, size - 1, size));
      expect(await tree.entries(0, size)).toEqual(entries.slice(0, size));
    }
  });

  it('returns entries of any range, across bundles', async () => {
    const entries = entriesOf(700);
    const g = await growTiles(undefined, 0, entries);
    const tree = new TiledTree(memoryTileSource(g.writes), 700, g.root);
    for (const [from, to] of [
      [0, 0],
      [5, 5],
      [255, 257],
      [100, 700],
      [511, 512],
      [699, 700],
    ]) {
      expect(await tree.entries(from, to)).toEqual(entries.slice(from, to));
    }
  });

  it('refuses indices and sizes outside the tree (TLOG_BAD_INDEX) and a root that is not a hash (TLOG_BAD_HASH)', async () => {
    const g = await growTiles(undefined, 0, entriesOf(10));
    const tree = new TiledTree(memoryTileSource(g.writes), 10, g.root);
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => tree.inclusionProof(10), 'leaf index 10 is not in 0..9'],
      [() => tree.inclusionProof(-1), 'leaf index -1'],
      [() => tree.inclusionProof(1.5), 'leaf index 1.5'],
      [() => tree.leafHash(10), 'leaf index 10'],
      [() => tree.consistencyProof(0), 'old tree size 0 is not in 1..10'],
      [() => tree.consistencyProof(11), 'old tree size 11'],
      [() => tree.rootAt(11), 'tree size 11 is not in 0..10'],
      [() => tree.rootAt(-1), 'tree size -1'],
      [() => tree.entries(-1, 2), 'first entry -1'],
      [() => tree.entries(3, 2), 'end of entries 2 is not in 3..10'],
      [() => tree.entries(0, 11), 'end of entries 11'],
    ];
    for (const [p, reason] of cases) {
      const r = await refusal(p());
      expect(r.code).toBe('TLOG_BAD_INDEX');
      expect(r.message).toContain(reason);
    }
    expect(refusalOf(() => new TiledTree(memoryTileSource([]), -1, g.root))).toEqual({
      code: 'TLOG_BAD_INDEX',
      message: 'tree size -1 is not in 0..9007199254740991',
    });
    expect(refusalOf(() => new TiledTree(memoryTileSource([]), 2 ** 53, g.root))).toMatchObject({ code: 'TLOG_BAD_INDEX' });
    expect(refusalOf(() => new TiledTree(memoryTileSource([]), 1, new Uint8Array(31)))).toEqual({
      code: 'TLOG_BAD_HASH',
      message: 'root hash is 31 bytes, not 32',
    });
    // an empty range reads nothing (the source here holds no bundles)
    expect(await new TiledTree(memoryTileSource(g.writes.filter((w) => w.kind === 'hash')), 10, g.root).entries(5, 5)).toEqual([]);
    const empty = new TiledTree(memoryTileSource([]), 0, emptyRoot());
    expect(await empty.rootAt(0)).toEqual(emptyRoot());
    expect(await empty.entries(0, 0)).toEqual([]);
  });
});

describe('tile sources', () => {
  it('memoryTileSource serves the tiles written, by path, and nothing else', async () => {
    const g = await growTiles(undefined, 0, entriesOf(3));
    const m = memoryTileSource(g.writes);
    expect(await m.hashTile({ level: 0, index: 0, width: 3 })).toEqual(g.writes[1].bytes);
    expect(await m.bundle({ index: 0, width: 3 })).toEqual(g.writes[0].bytes);
    expect(await m.hashTile({ level: 0, index: 0, width: 2 })).toBeUndefined();
    expect(await m.bundle({ index: 0, width: 2 })).toBeUndefined();
  });

  it('cachedTileSource reads a tile once, keeps the most recently used, and never keeps an absence or an error', async () => {
    const g = await growTiles(undefined, 0, entriesOf(3));
    let fail = true;
    const inner = memoryTileSource(g.writes);
    const { reads, source } = countingSource({
      hashTile: async (t) => {
        if (t.index === 9 && fail) throw new Error('registry down');
        return inner.hashTile(t);
      },
      bundle: inner.bundle,
    });
    const cached = cachedTileSource(source, 2);
    const a = { level: 0, index: 0, width: 3 };
    const b = { level: 0, index: 1, width: 3 };
    const c = { level: 0, index: 2, width: 3 };
    expect(await cached.hashTile(a)).toEqual(g.writes[1].bytes);
    expect(await cached.hashTile(a)).toEqual(g.writes[1].bytes);
    expect(await cached.bundle({ index: 0, width: 3 })).toEqual(g.writes[0].bytes);
    expect(await cached.bundle({ index: 0, width: 3 })).toEqual(g.writes[0].bytes);
    expect(reads).toEqual(['tile/0/000.p/3', 'tile/entries/000.p/3']);
    await cached.hashTile(a); // a is now the most recent of the two held
    await cached.hashTile(b); // absent: not kept
    await cached.hashTile(b);
    await cached.hashTile(c); // absent
    await cached.hashTile(a);
    expect(reads.slice(2)).toEqual(['tile/0/001.p/3', 'tile/0/001.p/3', 'tile/0/002.p/3']);
    await expect(cached.hashTile({ level: 0, index: 9, width: 1 })).rejects.toThrow('registry down');
    fail = false;
    expect(await cached.hashTile({ level: 0, index: 9, width: 1 })).toBeUndefined();
    expect(reads.filter((r) => r === 'tile/0/009.p/1')).toHaveLength(2);
  });

  it('cachedTileSource evicts the least recently used tile past its bound', async () => {
    const g = await growTiles(undefined, 0, entriesOf(600));
    const { reads, source } = countingSource(memoryTileSource(g.writes));
    const cached = cachedTileSource(source, 2);
    const t = (index: number) => ({ level: 0, index, width: 256 });
    await cached.hashTile(t(0));
    await cached.hashTile(t(1));
    await cached.hashTile(t(0)); // hit: 1 is now the oldest
    await cached.hashTile(t(2)); // partial width 256 absent: nothing kept, nothing evicted
    await cached.bundle({ index: 0, width: 256 }); // evicts 1
    await cached.hashTile(t(0)); // still held
    await cached.hashTile(t(1)); // read again
    expect(reads).toEqual(['tile/0/000', 'tile/0/001', 'tile/0/002', 'tile/entries/000', 'tile/0/001']);
  });
});
