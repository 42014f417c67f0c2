/**
 * The tiles a tree needs as it grows: for each tile level whose hash count changed, the tiles
 * from the old partial one (now wider or full) to the new right edge; the entry bundles likewise.
 * The old partial tiles and bundle are read from `source` — with `oldRoot` (the old checkpoint's
 * root) they are first checked to recompute it, so a tampered edge is refused
 * (TLOG_TILE_MISMATCH) rather than built upon, and the old partial bundle must hold the leaves
 * of the old partial tile (else it would be copied into every later bundle). The hashes computed are the same Go's
 * tlog.NewTiles / tlog.ReadTileData give for the same leaves (test/tlog/tiles-conformance.test.ts).
 */
import { TlogError } from '../errors.js';
import { emptyRoot, HASH_SIZE, hashesEqual } from '../merkle.js';
import { decodeBundle, encodeBundle } from './bundle.js';
import { bundlePath, hashTilePath } from './path.js';
import { countAt, edgeTiles, leafHash, rootFromEdge, splitTile, tileKey, tileLevels } from './shape.js';
import { type HashTileId, TILE_HEIGHT, TILE_WIDTH, type TileSource, type TileWrite } from './types.js';

/** the source of a tree grown from nothing */
const NO_TILES: TileSource = { hashTile: async () => undefined, bundle: async () => undefined };

function concat(hashes: Uint8Array[]): Uint8Array {
  const b = Buffer.concat(hashes, hashes.length * HASH_SIZE);
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

async function readOldTile(source: TileSource, t: HashTileId, oldSize: number): Promise<Uint8Array[]> {
  const path = hashTilePath(t);
  const bytes = await source.hashTile(t);
  if (bytes === undefined)
    throw new TlogError('TLOG_TILE_MISSING', `tile ${path} of the tree of size ${oldSize} is missing: the tree cannot grow from it`);
  return splitTile(bytes, t, path);
}

/** The old tree's partial tiles by level, checked against `oldRoot` when given. */
async function oldEdge(source: TileSource, oldSize: number, oldRoot: Uint8Array | undefined): Promise<Map<number, Uint8Array[]>> {
  const edge = edgeTiles(oldSize);
  const hashes = await Promise.all(edge.map((t) => readOldTile(source, t, oldSize)));
  if (oldRoot !== undefined) {
    const levels = new Map(edge.map((t, i) => [tileKey(t), tileLevels(hashes[i])]));
    if (
      !hashesEqual(
        rootFromEdge(edge, (t) => levels.get(tileKey(t))!, emptyRoot()),
        oldRoot,
      )
    ) {
      throw new TlogError(
        'TLOG_TILE_MISMATCH',
        `the right-edge tiles of the tree of size ${oldSize} do not hash to its root: the tree cannot grow from them`,
      );
    }
  }
  return new Map(edge.map((t, i) => [t.level, hashes[i]]));
}

/** The old tree's partial entry bundle ([] when its size is a multiple of 256). */
async function oldBundle(source: TileSource, oldSize: number): Promise<Uint8Array[]> {
  const id = { index: Math.floor(oldSize / TILE_WIDTH), width: oldSize % TILE_WIDTH };
  if (id.width === 0) return [];
  const bytes = await source.bundle(id);
  if (bytes === undefined) {
    throw new TlogError(
      'TLOG_TILE_MISSING',
      `entry bundle ${bundlePath(id)} of the tree of size ${oldSize} is missing: the tree cannot grow from it`,
    );
  }
  return decodeBundle(bytes, id.width);
}

/** The old partial bundle's entries must be the leaves of the old partial tile: a wrong one would be copied into every later bundle. */
function checkOldBundle(old: Uint8Array[], leafTile: Uint8Array[] | undefined, oldSize: number): void {
  for (const [j, e] of old.entries()) {
    if (!hashesEqual(leafHash(e), leafTile![j])) {
      throw new TlogError(
        'TLOG_TILE_MISMATCH',
        `entry ${oldSize - old.length + j} in the partial bundle of the tree of size ${oldSize} is not the leaf its tile holds: the tree cannot grow from it`,
      );
    }
  }
}

function bundleWrites(oldSize: number, row: readonly Uint8Array[]): TileWrite[] {
  const start = Math.floor(oldSize / TILE_WIDTH);
  const writes: TileWrite[] = [];
  for (let at = 0; at < row.length; at += TILE_WIDTH) {
    const entries = row.slice(at, at + TILE_WIDTH);
    const id = { index: start + at / TILE_WIDTH, width: entries.length };
    writes.push({ kind: 'entries', path: bundlePath(id), id, bytes: encodeBundle(entries) });
  }
  return writes;
}

/**
 * The tiles to store after the tree grows from `oldSize` leaves by the entries `added`: every
 * new or wider hash tile and entry bundle, with its bytes, plus the new size and root.
 * `source` supplies the old tree's partial tiles at its right edge (undefined when oldSize
 * is 0); `oldRoot`, when given, authenticates them. Fast enough to generate a
 * 1,000,000-entry log in memory for the bench.
 */
export async function growTiles(
  source: TileSource | undefined,
  oldSize: number,
  added: readonly Uint8Array[],
  oldRoot?: Uint8Array,
): Promise<{ writes: TileWrite[]; size: number; root: Uint8Array }> {
  if (!Number.isSafeInteger(oldSize) || oldSize < 0)
    throw new TlogError('TLOG_BAD_INDEX', `old tree size ${oldSize} is not a non-negative safe integer`);
  const size = oldSize + added.length;
  // both reads at once; the edge's refusal first, so a caller sees one reason whatever the timing
  const [edgeRead, bundleRead] = await Promise.allSettled([
    oldEdge(source ?? NO_TILES, oldSize, oldRoot),
    oldBundle(source ?? NO_TILES, oldSize),
  ]);
  if (edgeRead.status === 'rejected') throw edgeRead.reason;
  if (bundleRead.status === 'rejected') throw bundleRead.reason;
  const edge = edgeRead.value;
  checkOldBundle(bundleRead.value, edge.get(0), oldSize);
  const bundles = added.length === 0 ? [] : bundleWrites(oldSize, [...bundleRead.value, ...added]);
  const writes: TileWrite[] = [...bundles];
  // the old edge stays the edge at the levels the growth does not reach (the others' new partial tiles have other keys)
  const newEdge = new Map(
    [...edge].map(([level, hashes]) => [
      tileKey({ level, index: Math.floor(countAt(oldSize, level) / TILE_WIDTH), width: hashes.length }),
      tileLevels(hashes),
    ]),
  );
  let fresh = added.map(leafHash); // the new hashes of Merkle level 8·level
  for (let level = 0; countAt(size, level) > countAt(oldSize, level); level++) {
    const start = Math.floor(countAt(oldSize, level) / TILE_WIDTH);
    const row = [...(edge.get(level) ?? []), ...fresh];
    const up: Uint8Array[] = [];
    for (let at = 0; at < row.length; at += TILE_WIDTH) {
      const hashes = row.slice(at, at + TILE_WIDTH);
      const id = { level, index: start + at / TILE_WIDTH, width: hashes.length };
      writes.push({ kind: 'hash', path: hashTilePath(id), id, bytes: concat(hashes) });
      const levels = tileLevels(hashes);
      if (hashes.length === TILE_WIDTH) up.push(levels[TILE_HEIGHT][0]);
      else newEdge.set(tileKey(id), levels);
    }
    fresh = up;
  }
  return { writes, size, root: rootFromEdge(edgeTiles(size), (t) => newEdge.get(tileKey(t))!, emptyRoot()) };
}
