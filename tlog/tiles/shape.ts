/**
 * The shape of a tiled tree and the hashing inside one tile. Tile level L holds the hashes of
 * Merkle level 8·L; the tree of `size` leaves has ⌊size / 256^L⌋ of them, so its tiles at level
 * L are full but for the last, which is partial (width = that count mod 256) when the count is
 * not a multiple of 256. The partial tiles, one per level at most, are the tree's right edge:
 * the set bits 8L … 8L+7 of `size` are the perfect subtrees inside level L's partial tile, and
 * the root is their right fold. Every full tile is one hash of the level above it.
 */
import { hash } from 'node:crypto';
import { TlogError } from '../errors.js';
import { HASH_SIZE } from '../merkle.js';
import { type HashTileId, TILE_HEIGHT, TILE_WIDTH } from './types.js';

const node = new Uint8Array(1 + 2 * HASH_SIZE);
node[0] = 1;

/** SHA-256(0x01 ‖ left ‖ right) through one reused buffer: growing a million-entry log hashes two million nodes. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  node.set(left, 1);
  node.set(right, 1 + HASH_SIZE);
  return view(hash('sha256', node, 'buffer'));
}

/** SHA-256(0x00 ‖ entry), as tlog/merkle.ts's leafHash but with the one-shot hash and a reused buffer. */
export function leafHash(entry: Uint8Array): Uint8Array {
  // growing the buffer one call early, or to just the entry's size, changes nothing but its size
  // Stryker disable next-line EqualityOperator,ArithmeticOperator: as above
  if (scratch.length < 1 + entry.length) scratch = new Uint8Array(Math.max(2 * scratch.length, 1 + entry.length));
  scratch[0] = 0;
  scratch.set(entry, 1);
  return view(hash('sha256', scratch.subarray(0, 1 + entry.length), 'buffer'));
}
let scratch = new Uint8Array(1024);

/** A plain Uint8Array over a Buffer's bytes, so hashes compare equal to tlog/merkle.ts's. */
function view(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** How many hashes of Merkle level 8·level a tree of `size` leaves has. */
export function countAt(size: number, level: number): number {
  return Math.floor(size / 2 ** (TILE_HEIGHT * level));
}

/** The width tile (level, index) has in the tree of `size` leaves (the index must be in the tree). */
export function tileAt(size: number, level: number, index: number): HashTileId {
  return { level, index, width: Math.min(TILE_WIDTH, countAt(size, level) - TILE_WIDTH * index) };
}

/** The tree's partial tiles, top level first: all a reader needs to recompute the root. */
export function edgeTiles(size: number): HashTileId[] {
  const out: HashTileId[] = [];
  for (let level = 0; countAt(size, level) > 0; level++) {
    const count = countAt(size, level);
    if (count % TILE_WIDTH > 0) out.unshift({ level, index: Math.floor(count / TILE_WIDTH), width: count % TILE_WIDTH });
  }
  return out;
}

/** A hash tile's bytes as its `width` hashes; any other length is TLOG_TILE_MALFORMED. */
export function splitTile(bytes: Uint8Array, t: HashTileId, path: string): Uint8Array[] {
  if (bytes.length !== t.width * HASH_SIZE) {
    throw new TlogError(
      'TLOG_TILE_MALFORMED',
      `tile ${path} is ${bytes.length} bytes, not ${t.width} hashes (${t.width * HASH_SIZE} bytes)`,
    );
  }
  const out: Uint8Array[] = [];
  for (let i = 0; i < t.width; i++) out.push(bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  return out;
}

/** The 8 Merkle levels inside a tile: levels[k][j] is the subtree of 2^k of its hashes at j·2^k (levels[8][0] is a full tile's own hash). */
export function tileLevels(hashes: Uint8Array[]): Uint8Array[][] {
  const levels = [hashes];
  // Stryker disable next-line EqualityOperator: a ninth level above 256 hashes is empty and never read
  for (let k = 0; k < TILE_HEIGHT; k++) {
    const below = levels[k];
    const up: Uint8Array[] = [];
    for (let j = 0; j + 1 < below.length; j += 2) up.push(nodeHash(below[j], below[j + 1]));
    levels.push(up);
  }
  return levels;
}

/** The perfect subtrees at the right end of a tile of `width` hashes, largest first (the set bits of width). */
export function edgeSubtrees(levels: Uint8Array[][], width: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = TILE_HEIGHT - 1; k >= 0; k--) if ((width >> k) & 1) out.push(levels[k][(width >> k) - 1]);
  return out;
}

/** RFC 6962's hash of perfect subtrees laid left to right, largest first: their right fold. */
export function foldRight(subtrees: Uint8Array[]): Uint8Array {
  let r = subtrees[subtrees.length - 1];
  for (let j = subtrees.length - 2; j >= 0; j--) r = nodeHash(subtrees[j], r);
  return r;
}

/** The perfect subtrees [lo, hi) splits into under RFC 6962 (lo aligned to the largest), as (height, index) pairs. */
export function pieces(lo: number, hi: number): Array<{ height: number; index: number }> {
  const out: Array<{ height: number; index: number }> = [];
  let at = lo;
  for (let height = 52; height >= 0; height--) {
    const span = 2 ** height;
    if (hi - at >= span) {
      out.push({ height, index: at / span });
      at += span;
    }
  }
  return out;
}

/** The root the partial tiles `edge` (top level first, as edgeTiles) recompute; the empty tree's when there are none. */
export function rootFromEdge(edge: HashTileId[], levelsOf: (t: HashTileId) => Uint8Array[][], empty: Uint8Array): Uint8Array {
  const subtrees = edge.flatMap((t) => edgeSubtrees(levelsOf(t), t.width));
  return subtrees.length === 0 ? empty : foldRight(subtrees);
}

export function tileKey(t: HashTileId): string {
  return `${t.level}/${t.index}/${t.width}`;
}
