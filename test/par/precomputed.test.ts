/**
 * VerifyOptions.precomputed: a registry download hashes a plain tar's binary in the pass that
 * receives it, and verification takes that hash instead of a second pass — only for a member
 * lying at exactly the part hashed, and a wrong hash there fails the archive, never passes it.
 * tarBinaryRanges: where those binaries lie, from the archive's first bytes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createPar, tarBinaryRanges, verifyPar } from '../../par/index.js';
import { issuerSeed, refusal, subjectSeed } from './fixtures.js';

const BIN = new Uint8Array(randomBytes(200_000));
const OTHER = new Uint8Array(randomBytes(100_000));
const SIGNED = createHash('sha256').update(BIN).digest('hex').toUpperCase();
const WRONG = 'ab'.repeat(32);

const make = (format: 'zip' | 'tar' | 'tar.gz', binaries: Record<string, Uint8Array> = { 'x86_64-linux': BIN }) =>
  createPar({ name: 'p', vendor: 'v', revision: 1, issuerSeed, subjectSeed, binaries, format });

/** The one binary's [start, end) in a plain tar, found from its first 64 KiB. */
function binaryRange(tar: Uint8Array): [number, number] {
  const ranges = tarBinaryRanges(tar.subarray(0, 64 * 1024));
  expect(ranges).toHaveLength(1);
  const [start, end] = ranges![0];
  expect(Buffer.compare(Buffer.from(tar.subarray(start, end)), Buffer.from(BIN))).toBe(0);
  return [start, end];
}

describe('precomputed member hashes', () => {
  it('a hash at exactly the member is taken: right, the archive verifies; wrong, PAR_HASH_MISMATCH with and without a target', async () => {
    const tar = await make('tar');
    const [start, end] = binaryRange(tar);
    const right = await verifyPar(tar, { precomputed: [{ start, end, hex: SIGNED.toLowerCase() }] });
    expect(right.targets['x86_64-linux']).toEqual({ sha256: SIGNED, size: BIN.length });
    const targeted = await verifyPar(tar, { target: 'x86_64-linux', precomputed: [{ start, end, hex: SIGNED }] });
    expect(Buffer.from(targeted.binary!).equals(Buffer.from(BIN))).toBe(true);
    for (const target of [undefined, 'x86_64-linux']) {
      const e = await refusal(verifyPar(tar, { target, precomputed: [{ start, end, hex: WRONG }] }));
      expect(e.code).toBe('PAR_HASH_MISMATCH');
      expect(e.message).toContain(WRONG.toUpperCase());
    }
  });

  it('a hash of any other part is not taken: the member is hashed from its bytes', async () => {
    const tar = await make('tar');
    const [start, end] = binaryRange(tar);
    const elsewhere = [
      { start: start + 1, end: end + 1, hex: WRONG },
      { start, end: end - 1, hex: WRONG },
      { start: start - 1, end, hex: WRONG },
      { start: 0, end: end - start, hex: WRONG },
    ];
    for (const target of [undefined, 'x86_64-linux']) {
      const v = await verifyPar(tar, { target, precomputed: elsewhere });
      expect(v.targets['x86_64-linux'].sha256).toBe(SIGNED);
    }
  });

  it('offsets count from the input view, not from the memory under it', async () => {
    const tar = await make('tar');
    const [start, end] = binaryRange(tar);
    const padded = new Uint8Array(tar.length + 100);
    padded.set(tar, 100);
    const view = padded.subarray(100);
    const e = await refusal(verifyPar(view, { precomputed: [{ start, end, hex: WRONG }] }));
    expect(e.code).toBe('PAR_HASH_MISMATCH');
    // the same numbers counted from the start of the memory point at other bytes: not taken
    const shifted = await verifyPar(view, { precomputed: [{ start: start + 100, end: end + 100, hex: WRONG }] });
    expect(shifted.targets['x86_64-linux'].sha256).toBe(SIGNED);
  });

  it('decompressed members are always hashed from their bytes (a gzip tar and a deflated zip)', async () => {
    for (const format of ['tar.gz', 'zip'] as const) {
      const par = await make(format);
      const everywhere = Array.from({ length: 8 }, (_, i) => ({ start: i * 512, end: i * 512 + BIN.length, hex: WRONG }));
      const v = await verifyPar(par, { target: 'x86_64-linux', precomputed: everywhere });
      expect(v.targets['x86_64-linux'].sha256).toBe(SIGNED);
    }
  });
});

describe('tarBinaryRanges', () => {
  it('names the first binary once its data begins in the prefix, only for the target asked', async () => {
    const tar = await make('tar', { 'x86_64-linux': BIN, 'aarch64-linux': OTHER });
    const all = tarBinaryRanges(tar.subarray(0, 64 * 1024))!;
    expect(all).toHaveLength(1);
    const [start, end] = all[0];
    const first = Buffer.from(tar.subarray(start, end));
    expect(first.equals(Buffer.from(BIN)) || first.equals(Buffer.from(OTHER))).toBe(true);
    // the whole archive: every binary
    const every = tarBinaryRanges(tar)!;
    expect(every.map(([s, e]) => e - s).sort((a, b) => a - b)).toEqual([OTHER.length, BIN.length]);
    const x86 = tarBinaryRanges(tar, 'x86_64-linux')!;
    expect(x86).toHaveLength(1);
    expect(Buffer.from(tar.subarray(x86[0][0], x86[0][1])).equals(Buffer.from(BIN))).toBe(true);
  });

  it('undefined while the prefix is too short to tell; [] for other formats and bytes that are no tar', async () => {
    const tar = await make('tar');
    const [start] = binaryRange(tar);
    expect(tarBinaryRanges(tar.subarray(0, 511))).toBeUndefined();
    // the claims and the binary's header, but not one byte of its data yet
    expect(tarBinaryRanges(tar.subarray(0, start))).toBeUndefined();
    expect(tarBinaryRanges(tar.subarray(0, start + 1))).toEqual([[start, start + BIN.length]]);
    expect(tarBinaryRanges(await make('zip'))).toEqual([]);
    expect(tarBinaryRanges(await make('tar.gz'))).toEqual([]);
    expect(tarBinaryRanges(new Uint8Array(randomBytes(4096)))).toEqual([]);
    // a whole archive without the target asked for: none, and nothing more to wait for
    expect(tarBinaryRanges(tar, 'aarch64-linux')).toEqual([]);
    expect(tarBinaryRanges(tar.subarray(0, 64 * 1024), 'aarch64-linux')).toBeUndefined();
    const broken = Buffer.from(tar.subarray(0, 4096));
    broken[148] ^= 0xff; // the first header's checksum
    expect(tarBinaryRanges(broken)).toEqual([]);
  });
});
