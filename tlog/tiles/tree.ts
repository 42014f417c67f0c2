/**
 * Proofs read from tiles, every hash authenticated against the signed root before use (as Go's
 * tlog.TileHashReader does): a reader fetches the tiles a proof needs, the full tiles above
 * them (each full tile is one hash of the tile above it) and the tree's partial tiles (its
 * right edge), recomputes the root from the edge and compares it with the signed one, then
 * checks every full tile against its parent top down. Only then is any hash of theirs used, so
 * a source can make a proof fail (TLOG_TILE_MISMATCH, TLOG_TILE_MALFORMED, TLOG_TILE_MISSING)
 * but never make a wrong one. Tiles authenticated once stay trusted for the tree's lifetime.
 */
import { TlogError } from '../errors.js';
import { emptyRoot, HASH_SIZE, hashesEqual } from '../merkle.js';
import { decodeBundle } from './bundle.js';
import { bundlePath, hashTilePath } from './path.js';
import { edgeTiles, foldRight, leafHash, pieces, rootFromEdge, splitTile, tileAt, tileKey, tileLevels } from './shape.js';
import { type HashTileId, TILE_HEIGHT, TILE_WIDTH, type TileSource } from './types.js';

type Range = [lo: number, hi: number];

/** The largest power of two strictly smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 PATH(index, D[size]) as the leaf ranges whose hashes it lists, bottom up. */
function inclusionRanges(index: number, size: number): Range[] {
  const out: Range[] = [];
  const path = (m: number, lo: number, hi: number): void => {
    if (hi - lo <= 1) return;
    const k = split(hi - lo);
    if (m < k) {
      path(m, lo, lo + k);
      out.push([lo + k, hi]);
    } else {
      path(m - k, lo + k, hi);
      out.push([lo, lo + k]);
    }
  };
  path(index, 0, size);
  return out;
}

/** RFC 6962 PROOF(oldSize, D[size]) as leaf ranges. */
function consistencyRanges(oldSize: number, size: number): Range[] {
  const out: Range[] = [];
  const sub = (m: number, lo: number, hi: number, whole: boolean): void => {
    if (m === hi - lo) {
      if (!whole) out.push([lo, hi]);
      return;
    }
    const k = split(hi - lo);
    if (m <= k) {
      sub(m, lo, lo + k, whole);
      out.push([lo + k, hi]);
    } else {
      sub(m - k, lo + k, hi, false);
      out.push([lo, lo + k]);
    }
  };
  sub(oldSize, 0, size, true);
  return out;
}

function checkRange(what: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new TlogError('TLOG_BAD_INDEX', `${what} ${v} is not in ${min}..${max}`);
}

/**
 * The tree of `size` leaves whose root a verified checkpoint gives. Every hash it reads from
 * tiles is authenticated against `root` before use (as Go's tlog.TileHashReader does): tiles
 * that do not hash to it are TLOG_TILE_MISMATCH, an absent tile TLOG_TILE_MISSING. Proofs it
 * returns verify with tlog/merkle.ts against `root`.
 */
export class TiledTree {
  /** authenticated tiles by tileKey: their inner levels (tileLevels) */
  private readonly trusted = new Map<string, Uint8Array[][]>();
  /** whether the right edge recomputed the signed root (then its tiles are in `trusted`) */
  private edgeChecked = false;

  constructor(
    readonly source: TileSource,
    readonly size: number,
    readonly root: Uint8Array,
  ) {
    checkRange('tree size', size, 0, Number.MAX_SAFE_INTEGER);
    if (root.length !== HASH_SIZE) throw new TlogError('TLOG_BAD_HASH', `root hash is ${root.length} bytes, not ${HASH_SIZE}`);
  }

  /** The RFC 6962 inclusion proof of leaf `index` (< size) in this tree. */
  async inclusionProof(index: number): Promise<Uint8Array[]> {
    checkRange('leaf index', index, 0, this.size - 1);
    return this.hashRanges(inclusionRanges(index, this.size));
  }

  /** The RFC 6962 consistency proof from the tree of `oldSize` (0 < oldSize ≤ size) to this one. */
  async consistencyProof(oldSize: number): Promise<Uint8Array[]> {
    checkRange('old tree size', oldSize, 1, this.size);
    return this.hashRanges(consistencyRanges(oldSize, this.size));
  }

  /** The root of the first `n` leaves (n ≤ size), authenticated through this tree's root. */
  async rootAt(n: number): Promise<Uint8Array> {
    checkRange('tree size', n, 0, this.size);
    if (n === 0) return emptyRoot();
    const [root] = await this.hashRanges([[0, n]]);
    return root;
  }

  /** The hash of leaf `index`, authenticated. */
  async leafHash(index: number): Promise<Uint8Array> {
    checkRange('leaf index', index, 0, this.size - 1);
    const [hash] = await this.hashRanges([[index, index + 1]]);
    return hash;
  }

  /** Entry bytes of leaves [from, to), each authenticated (its leaf hash is the tree's). */
  async entries(from: number, to: number): Promise<Uint8Array[]> {
    checkRange('first entry', from, 0, this.size);
    checkRange('end of entries', to, from, this.size);
    if (from === to) return [];
    const first = Math.floor(from / TILE_WIDTH);
    const bundles = Array.from({ length: Math.floor((to - 1) / TILE_WIDTH) - first + 1 }, (_, i) => first + i);
    const [leaves, decoded] = await Promise.all([
      this.hashRanges(Array.from({ length: to - from }, (_, i): Range => [from + i, from + i + 1])),
      Promise.all(bundles.map((index) => this.readBundle(index))),
    ]);
    const entries = decoded.flat().slice(from - first * TILE_WIDTH, to - first * TILE_WIDTH);
    for (const [i, e] of entries.entries()) {
      if (!hashesEqual(leafHash(e), leaves[i])) {
        throw new TlogError(
          'TLOG_TILE_MISMATCH',
          `entry ${from + i} in ${bundlePath(this.bundleAt(Math.floor((from + i) / TILE_WIDTH)))} is not the leaf the tree of size ${this.size} holds`,
        );
      }
    }
    return entries;
  }

  private bundleAt(index: number): { index: number; width: number } {
    return { index, width: Math.min(TILE_WIDTH, this.size - index * TILE_WIDTH) };
  }

  private async readBundle(index: number): Promise<Uint8Array[]> {
    const b = this.bundleAt(index);
    const bytes = await this.source.bundle(b);
    if (bytes === undefined)
      throw new TlogError('TLOG_TILE_MISSING', `entry bundle ${bundlePath(b)} of the tree of size ${this.size} is missing`);
    return decodeBundle(bytes, b.width);
  }

  /** The hashes of leaf ranges as RFC 6962 computes them (each the right fold of its perfect subtrees). */
  private async hashRanges(ranges: Range[]): Promise<Uint8Array[]> {
    const parts = ranges.map(([lo, hi]) => pieces(lo, hi));
    await this.authenticate(parts.flat().map((p) => this.tileOf(p.height, p.index)));
    return parts.map((ps) => foldRight(ps.map((p) => this.hashAt(p.height, p.index))));
  }

  /** The tile that holds the perfect subtree of 2^height leaves at index·2^height. */
  private tileOf(height: number, index: number): HashTileId {
    const first = index * 2 ** (height % TILE_HEIGHT);
    return tileAt(this.size, Math.floor(height / TILE_HEIGHT), Math.floor(first / TILE_WIDTH));
  }

  private hashAt(height: number, index: number): Uint8Array {
    const k = height % TILE_HEIGHT;
    const levels = this.trusted.get(tileKey(this.tileOf(height, index)));
    // Stryker disable next-line all: authenticate() ran for every tile hashRanges reads; this only guards the invariant
    if (!levels) throw new Error(`internal: tile for subtree ${height}/${index} was not authenticated`);
    return levels[k][((index * 2 ** k) % TILE_WIDTH) >> k];
  }

  /** Reads the tiles `wanted` (and what authenticates them) and adds them to `trusted`, or throws. */
  private async authenticate(wanted: HashTileId[]): Promise<void> {
    const need = new Map<string, HashTileId>();
    const add = (t: HashTileId): void => {
      const key = tileKey(t);
      if (this.trusted.has(key) || need.has(key)) return;
      need.set(key, t);
      if (t.width === TILE_WIDTH) add(tileAt(this.size, t.level + 1, Math.floor(t.index / TILE_WIDTH)));
    };
    for (const t of wanted) add(t);
    const edge = this.edgeChecked ? [] : edgeTiles(this.size);
    for (const t of edge) need.set(tileKey(t), t);
    const read = new Map(await Promise.all([...need].map(async ([key, t]) => [key, await this.readTile(t)] as const)));
    if (!this.edgeChecked) this.checkEdge(edge, read);
    // full tiles top level first: each is the hash at its index in the (now trusted) tile above
    const full = [...need.values()].filter((t) => t.width === TILE_WIDTH).sort((a, b) => b.level - a.level);
    for (const t of full) {
      const levels = read.get(tileKey(t))!;
      const parent = this.trusted.get(tileKey(tileAt(this.size, t.level + 1, Math.floor(t.index / TILE_WIDTH))))!;
      if (!hashesEqual(levels[TILE_HEIGHT][0], parent[0][t.index % TILE_WIDTH])) {
        throw new TlogError(
          'TLOG_TILE_MISMATCH',
          `tile ${hashTilePath(t)} does not hash to its entry in the level ${t.level + 1} tile of the tree of size ${this.size}`,
        );
      }
      this.trusted.set(tileKey(t), levels);
    }
  }

  /** The partial tiles must recompute the signed root; then they are trusted. */
  private checkEdge(edge: HashTileId[], read: Map<string, Uint8Array[][]>): void {
    if (
      !hashesEqual(
        rootFromEdge(edge, (t) => read.get(tileKey(t))!, emptyRoot()),
        this.root,
      )
    ) {
      throw new TlogError(
        'TLOG_TILE_MISMATCH',
        `the right-edge tiles of the tree of size ${this.size} (${edge.map(hashTilePath).join(', ')}) do not hash to its signed root`,
      );
    }
    for (const t of edge) this.trusted.set(tileKey(t), read.get(tileKey(t))!);
    this.edgeChecked = true;
  }

  private async readTile(t: HashTileId): Promise<Uint8Array[][]> {
    const bytes = await this.source.hashTile(t);
    if (bytes === undefined)
      throw new TlogError('TLOG_TILE_MISSING', `tile ${hashTilePath(t)} of the tree of size ${this.size} is missing`);
    return tileLevels(splitTile(bytes, t, hashTilePath(t)));
  }
}
