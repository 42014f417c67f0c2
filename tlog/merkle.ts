/**
 * RFC 6962 Merkle trees (the hashing of Certificate Transparency and of Go's checksum
 * database): a leaf hashes as SHA-256(0x00 ‖ data), an inner node as SHA-256(0x01 ‖ left ‖
 * right), the empty tree as SHA-256(""). The tree of size n splits at the largest power of two
 * strictly smaller than n.
 *
 * Proofs are computed from the stored leaf hashes (RFC 6962 §2.1.1 PATH and §2.1.2 PROOF) and
 * verified with the RFC 9162 §2.1.3.2 / §2.1.4.2 algorithms under the strict edge rules of
 * transparency-dev/merkle: an inclusion proof needs index < size, a 32-byte leaf hash and the
 * exact proof length; a consistency proof refuses size2 < size1 and size1 = 0 (even when
 * size2 = 0), and for size1 = size2 wants an empty proof and equal roots. Verification throws a TlogError (codes
 * TLOG_BAD_HASH, TLOG_BAD_INDEX, TLOG_BAD_PROOF); it never returns "false".
 *
 * Indices and sizes may be numbers or bigints (published probes use 2^64−1); proof
 * computation takes numbers because it walks an in-memory array.
 *
 * ```ts
 * const leaves = entries.map(leafHash);
 * const proof = inclusionProof(leaves, 2);            // for the tree of all leaves
 * verifyInclusion(leaves[2], 2, leaves.length, proof, rootOf(leaves));
 * ```
 */
import { createHash } from 'node:crypto';
import { TlogError } from './errors.js';

export const HASH_SIZE = 32;

export type Index = number | bigint;

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const LEAF_PREFIX = Uint8Array.of(0);
const NODE_PREFIX = Uint8Array.of(1);

/** SHA-256(0x00 ‖ data). */
export function leafHash(data: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, data);
}

/** SHA-256(0x01 ‖ left ‖ right). Children of any length are hashed as given. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** SHA-256(""): the root of the empty tree. */
export function emptyRoot(): Uint8Array {
  return sha256();
}

/** The largest power of two strictly smaller than n (n ≥ 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH over leafHashes[lo, hi). */
function subtreeRoot(leaves: readonly Uint8Array[], lo: number, hi: number): Uint8Array {
  const n = hi - lo;
  if (n === 0) return emptyRoot();
  if (n === 1) return leaves[lo];
  const k = split(n);
  return nodeHash(subtreeRoot(leaves, lo, lo + k), subtreeRoot(leaves, lo + k, hi));
}

function checkSize(leaves: readonly Uint8Array[], size: number): void {
  if (!Number.isSafeInteger(size) || size < 0 || size > leaves.length) {
    throw new TlogError('TLOG_BAD_INDEX', `tree size ${size} is outside the ${leaves.length} stored leaves`);
  }
}

/** The root (MTH) of the tree over the first `size` leaf hashes (default: all of them). */
export function rootOf(leafHashes: readonly Uint8Array[], size: number = leafHashes.length): Uint8Array {
  checkSize(leafHashes, size);
  return subtreeRoot(leafHashes, 0, size);
}

/**
 * The roots of several prefixes of one log in a single pass (O(n + k log n) hashes, where
 * rootOf per size costs O(n) each): the tree of size n is the right fold of its perfect
 * subtrees, largest first, because RFC 6962 splits at the largest power of two below n.
 */
export function rootsOf(leafHashes: readonly Uint8Array[], sizes: readonly number[]): Map<number, Uint8Array> {
  for (const s of sizes) checkSize(leafHashes, s);
  const want = new Set(sizes);
  const out = new Map<number, Uint8Array>();
  if (want.has(0)) out.set(0, emptyRoot());
  const last = Math.max(0, ...sizes);
  const stack: Array<{ hash: Uint8Array; size: number }> = [];
  for (let i = 0; i < last; i++) {
    stack.push({ hash: leafHashes[i], size: 1 });
    while (stack.length >= 2 && stack[stack.length - 1].size === stack[stack.length - 2].size) {
      const right = stack.pop()!;
      const left = stack.pop()!;
      // Stryker disable next-line ArithmeticOperator: only equality of sizes is compared, and halving keeps it as doubling does
      stack.push({ hash: nodeHash(left.hash, right.hash), size: left.size * 2 });
    }
    if (want.has(i + 1)) {
      let r = stack[stack.length - 1].hash;
      for (let j = stack.length - 2; j >= 0; j--) r = nodeHash(stack[j].hash, r);
      out.set(i + 1, r);
    }
  }
  return out;
}

/** RFC 6962 PATH(index, D[size]): the audit path of leaf `index` in the tree of `size` leaves. */
export function inclusionProof(leafHashes: readonly Uint8Array[], index: number, size: number = leafHashes.length): Uint8Array[] {
  checkSize(leafHashes, size);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new TlogError('TLOG_BAD_INDEX', `leaf index ${index} is not in a tree of size ${size}`);
  }
  const out: Uint8Array[] = [];
  const path = (m: number, lo: number, hi: number): void => {
    const n = hi - lo;
    if (n <= 1) return;
    const k = split(n);
    if (m < k) {
      path(m, lo, lo + k);
      out.push(subtreeRoot(leafHashes, lo + k, hi));
    } else {
      path(m - k, lo + k, hi);
      out.push(subtreeRoot(leafHashes, lo, lo + k));
    }
  };
  path(index, 0, size);
  return out;
}

/** RFC 6962 PROOF(size1, D[size2]): proves the tree of size1 is a prefix of the tree of size2. */
export function consistencyProof(leafHashes: readonly Uint8Array[], size1: number, size2: number = leafHashes.length): Uint8Array[] {
  checkSize(leafHashes, size2);
  if (!Number.isSafeInteger(size1) || size1 < 1 || size1 > size2) {
    throw new TlogError('TLOG_BAD_INDEX', `no consistency proof from size ${size1} to size ${size2} (need 1 ≤ size1 ≤ size2)`);
  }
  const out: Uint8Array[] = [];
  const subproof = (m: number, lo: number, hi: number, whole: boolean): void => {
    const n = hi - lo;
    if (m === n) {
      if (!whole) out.push(subtreeRoot(leafHashes, lo, hi));
      return;
    }
    const k = split(n);
    if (m <= k) {
      subproof(m, lo, lo + k, whole);
      out.push(subtreeRoot(leafHashes, lo + k, hi));
    } else {
      subproof(m - k, lo + k, hi, false);
      out.push(subtreeRoot(leafHashes, lo, lo + k));
    }
  };
  subproof(size1, 0, size2, true);
  return out;
}

const MAX_U64 = (1n << 64n) - 1n;

function big(v: Index, what: string): bigint {
  const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : -1n;
  if (b < 0n || b > MAX_U64) throw new TlogError('TLOG_BAD_INDEX', `${what} ${String(v)} is not an unsigned 64-bit integer`);
  return b;
}

function checkHash(h: Uint8Array, what: string): void {
  if (h.length !== HASH_SIZE) throw new TlogError('TLOG_BAD_HASH', `${what} is ${h.length} bytes, not ${HASH_SIZE}`);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  // Stryker disable next-line EqualityOperator: one index past the end XORs undefined with undefined, which is 0
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Number of proof hashes PATH(index, D[size]) has. */
function inclusionLength(index: bigint, size: bigint): number {
  // inner: bits below the highest bit where index and size−1 differ; border: ones above it.
  const x = index ^ (size - 1n);
  const inner = x === 0n ? 0 : x.toString(2).length;
  const border = (index >> BigInt(inner)).toString(2).replace(/0/g, '').length;
  return inner + border;
}

/** Folds an inclusion path (RFC 9162 §2.1.3.2) and returns the root it implies. */
function rootFromInclusion(hash: Uint8Array, index: bigint, size: bigint, proof: readonly Uint8Array[]): Uint8Array {
  if (index >= size) throw new TlogError('TLOG_BAD_INDEX', `leaf index ${index} is not in a tree of size ${size}`);
  checkHash(hash, 'leaf hash');
  const want = inclusionLength(index, size);
  if (proof.length !== want) {
    throw new TlogError('TLOG_BAD_PROOF', `inclusion proof for leaf ${index} of ${size} has ${proof.length} hashes, needs ${want}`);
  }
  for (const [i, p] of proof.entries()) checkHash(p, `inclusion proof hash ${i}`);
  let fn = index;
  let sn = size - 1n;
  let r = hash;
  for (const p of proof) {
    // the proof's length was checked against inclusionLength above (here and after the loop); RFC 9162's own length checks stay as written
    // Stryker disable next-line ConditionalExpression,StringLiteral: as above
    if (sn === 0n) throw new TlogError('TLOG_BAD_PROOF', 'inclusion proof is longer than the path');
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      // Stryker disable next-line ConditionalExpression: for an odd fn the loop below does not run
      if ((fn & 1n) === 0n) {
        // Stryker disable next-line ConditionalExpression: an even fn > 0 turns odd before it reaches 0 (fn = sn = 0 threw above)
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  // Stryker disable next-line ConditionalExpression,StringLiteral: see the loop's first line
  if (sn !== 0n) throw new TlogError('TLOG_BAD_PROOF', 'inclusion proof is shorter than the path');
  return r;
}

/**
 * Checks that `leafHash` is leaf `index` of the tree of `size` leaves whose root is `root`.
 * Throws TLOG_BAD_INDEX, TLOG_BAD_HASH or TLOG_BAD_PROOF.
 */
export function verifyInclusion(hash: Uint8Array, index: Index, size: Index, proof: readonly Uint8Array[], root: Uint8Array): void {
  const i = big(index, 'leaf index');
  const n = big(size, 'tree size');
  checkHash(root, 'root hash');
  const got = rootFromInclusion(hash, i, n, proof);
  if (!equal(got, root))
    throw new TlogError('TLOG_BAD_PROOF', `inclusion proof for leaf ${i} does not lead to the root of the tree of size ${n}`);
}

/**
 * Checks that the tree of size1 with root1 is a prefix of the tree of size2 with root2.
 * Throws TLOG_BAD_INDEX (size2 < size1, size1 = 0), TLOG_BAD_HASH or TLOG_BAD_PROOF.
 */
export function verifyConsistency(size1: Index, size2: Index, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): void {
  const m = big(size1, 'tree size');
  const n = big(size2, 'tree size');
  if (n < m) throw new TlogError('TLOG_BAD_INDEX', `tree size ${n} is smaller than the earlier size ${m}: the log went back`);
  if (m === 0n) throw new TlogError('TLOG_BAD_INDEX', 'no consistency proof starts at the empty tree');
  if (m === n) {
    // transparency-dev compares the roots as given, whatever their length
    if (proof.length !== 0) throw new TlogError('TLOG_BAD_PROOF', `sizes are equal (${m}) but the consistency proof is not empty`);
    if (!equal(root1, root2)) throw new TlogError('TLOG_BAD_PROOF', `two different roots for the same tree size ${m}`);
    return;
  }
  checkHash(root1, 'root hash');
  checkHash(root2, 'root hash');
  if (proof.length === 0) throw new TlogError('TLOG_BAD_PROOF', `empty consistency proof from size ${m} to ${n}`);
  for (const [i, p] of proof.entries()) checkHash(p, `consistency proof hash ${i}`);

  let path = [...proof];
  if ((m & (m - 1n)) === 0n) path = [root1, ...path];
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new TlogError('TLOG_BAD_PROOF', 'consistency proof is longer than needed');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      // Stryker disable next-line ConditionalExpression: as in rootFromInclusion
      if ((fn & 1n) === 0n) {
        // Stryker disable next-line ConditionalExpression: as in rootFromInclusion
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new TlogError('TLOG_BAD_PROOF', 'consistency proof is shorter than needed');
  if (!equal(fr, root1)) throw new TlogError('TLOG_BAD_PROOF', `consistency proof does not lead to the root of size ${m}`);
  if (!equal(sr, root2)) throw new TlogError('TLOG_BAD_PROOF', `consistency proof does not lead to the root of size ${n}`);
}

/** Constant-time equality of two hashes (exported for callers comparing roots). */
export function hashesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return equal(a, b);
}
