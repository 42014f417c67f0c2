/**
 * tlog/tiles against other people's tools (test/conformance/tlog/tiles, README there):
 * (1) vectors Go's golang.org/x/mod/sumdb/tlog wrote for trees of 1 … 65,795 leaves — every
 * tile path and byte, every root, record and tree proof, and which tiles a growth writes —
 * must come out of growTiles and TiledTree identically; (2) real data from Go's checksum
 * database: a signed tree note verified with Go's key, and a record's inclusion and the
 * consistency of two signed trees proved through TiledTree over the hash tiles sumdb served.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import { leafHash, openNote, parseCheckpoint, parseVerifierKey, verifyConsistency, verifyInclusion } from '../../tlog/index.js';
import {
  growTiles,
  type HashTileId,
  hashTilePath,
  memoryTileSource,
  parseTilePath,
  TiledTree,
  type TileSource,
} from '../../tlog/tiles/index.js';

const dir = join(packageRoot(), 'test', 'conformance', 'tlog', 'tiles');
const go = JSON.parse(readFileSync(join(dir, 'go-tlog.json'), 'utf8'));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sha = async (b: Uint8Array): Promise<string> => hex(new Uint8Array(await crypto.subtle.digest('SHA-256', b)));
/** Go's sumdb paths carry the tile height: tile/8/<L>/… is C2SP's tile/<L>/… */
const c2sp = (goPath: string): string => goPath.replace(/^tile\/8\//, 'tile/');

const maxSize = Math.max(...go.sizes.map((s: { size: number }) => s.size));
const entries = Array.from({ length: maxSize }, (_, i) => new TextEncoder().encode(`gantry tiles vector ${i}\n`));

describe("Go's sumdb/tlog vectors", () => {
  it('names the leaf data the vectors were made from', () => {
    expect(go.leaf).toBe('gantry tiles vector <i>\\n');
    expect(go.sizes.length).toBeGreaterThanOrEqual(10);
  });

  for (const v of go.sizes) {
    it(`tree of ${v.size}: the same tile paths, tile bytes, root, record and tree proofs`, async () => {
      const grown = await growTiles(undefined, 0, entries.slice(0, v.size));
      expect(hex(grown.root)).toBe(v.root);
      const ours = grown.writes.filter((w) => w.kind === 'hash');
      expect(ours.map((w) => w.path).sort()).toEqual(v.tiles.map((t: { path: string }) => c2sp(t.path)).sort());
      const byPath = new Map(ours.map((w) => [w.path, w.bytes]));
      for (const t of v.tiles) {
        const bytes = byPath.get(c2sp(t.path))!;
        expect(await sha(bytes)).toBe(t.sha256);
        if (t.hex) expect(hex(bytes)).toBe(t.hex);
        expect(parseTilePath(c2sp(t.path))).toMatchObject({ kind: 'hash' });
        expect(hashTilePath(parseTilePath(c2sp(t.path)) as HashTileId)).toBe(c2sp(t.path));
      }
      const tree = new TiledTree(memoryTileSource(grown.writes), v.size, grown.root);
      for (const p of v.recordProofs) expect((await tree.inclusionProof(p.index)).map(hex)).toEqual(p.proof);
      for (const p of v.treeProofs) expect((await tree.consistencyProof(p.old)).map(hex)).toEqual(p.proof);
    });
  }

  for (const g of go.growths) {
    it(`growing ${g.old} → ${g.new} writes the hash tiles tlog.NewTiles names`, async () => {
      const before = await growTiles(undefined, 0, entries.slice(0, g.old));
      const after = await growTiles(memoryTileSource(before.writes), g.old, entries.slice(g.old, g.new), before.root);
      const paths = after.writes.filter((w) => w.kind === 'hash').map((w) => w.path);
      expect(paths.sort()).toEqual(g.paths.map(c2sp).sort());
      expect(after.root).toEqual((await growTiles(undefined, 0, entries.slice(0, g.new))).root);
    });
  }
});

describe("Go's checksum database (sum.golang.org, captured)", () => {
  const sumdb = join(dir, 'sumdb');
  const expected = JSON.parse(readFileSync(join(sumdb, 'expected.json'), 'utf8'));
  const goKey = parseVerifierKey(expected.verifierKey);
  // the tiles as sumdb serves them: tile/8/<L>/<N>[.p/<W>]; data tiles are not C2SP bundles and were not captured
  const source: TileSource = {
    hashTile: async (t: HashTileId) => {
      const file = join(sumdb, 'tile', '8', hashTilePath(t).slice('tile/'.length));
      return existsSync(file) ? new Uint8Array(readFileSync(file)) : undefined;
    },
    bundle: async () => undefined,
  };
  const lookup = readFileSync(join(sumdb, 'lookup'), 'utf8');
  const [idLine, ...rest] = lookup.split('\n');
  const recordEnd = rest.join('\n').indexOf('\n\n');
  const record = rest.join('\n').slice(0, recordEnd + 1);
  const tree = (note: string) => parseCheckpoint(openNote(note, [goKey]).text);
  const lookupTree = tree(rest.join('\n').slice(recordEnd + 2));
  const latestTree = tree(readFileSync(join(sumdb, 'latest'), 'utf8'));

  it("opens both signed tree notes with Go's key (origin go.sum database tree)", () => {
    expect(lookupTree.origin).toBe('go.sum database tree');
    expect(lookupTree.size).toBe(expected.lookupTree.size);
    expect(hex(lookupTree.root)).toBe(expected.lookupTree.root);
    expect(latestTree.size).toBe(expected.latestTree.size);
    expect(Number(idLine)).toBe(expected.recordId);
    expect(record).toBe(expected.record);
  });

  it("proves the record's inclusion through TiledTree over sumdb's tiles, as Go's tlog.ProveRecord does", async () => {
    const t = new TiledTree(source, Number(lookupTree.size), lookupTree.root);
    const id = Number(idLine);
    const leaf = leafHash(new TextEncoder().encode(record));
    expect(await t.leafHash(id)).toEqual(leaf);
    const proof = await t.inclusionProof(id);
    expect(proof.map(hex)).toEqual(expected.recordProof);
    verifyInclusion(leaf, id, lookupTree.size, proof, lookupTree.root);
  });

  it('proves the lookup tree is a prefix of the latest one, as tlog.ProveTree does', async () => {
    const t = new TiledTree(source, Number(latestTree.size), latestTree.root);
    const proof = await t.consistencyProof(Number(lookupTree.size));
    expect(proof.map(hex)).toEqual(expected.treeProof);
    verifyConsistency(lookupTree.size, latestTree.size, proof, lookupTree.root, latestTree.root);
    expect(await t.rootAt(Number(lookupTree.size))).toEqual(lookupTree.root);
  });
});
