/**
 * C2SP entry bundles: each entry as a big-endian uint16 length followed by its bytes. Decoding
 * is strict (exactly the entries asked for, nothing after them), so one byte string is one
 * bundle and a truncated or padded bundle is refused, never half-read.
 */
import { TlogError } from '../errors.js';
import { TILE_WIDTH } from './types.js';

const MAX_ENTRY = 0xffff;

/** An entry bundle's bytes (TLOG_TILE_MALFORMED for an entry over 65,535 bytes). */
export function encodeBundle(entries: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const [i, e] of entries.entries()) {
    if (e.length > MAX_ENTRY)
      throw new TlogError('TLOG_TILE_MALFORMED', `entry ${i} is ${e.length} bytes; a bundle holds entries of at most ${MAX_ENTRY}`);
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/** The `width` entries of a bundle; anything but exactly `width` well-formed entries is TLOG_TILE_MALFORMED. */
export function decodeBundle(bytes: Uint8Array, width: number): Uint8Array[] {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)
    throw new TlogError('TLOG_TILE_MALFORMED', `bundle width ${width} is not in 1..${TILE_WIDTH}`);
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (out.length === width)
      throw new TlogError('TLOG_TILE_MALFORMED', `entry bundle has ${bytes.length - at} bytes after its ${width} entries`);
    if (at + 2 > bytes.length) throw new TlogError('TLOG_TILE_MALFORMED', `entry bundle ends inside the length of entry ${out.length}`);
    const n = (bytes[at] << 8) | bytes[at + 1];
    if (at + 2 + n > bytes.length) {
      throw new TlogError(
        'TLOG_TILE_MALFORMED',
        `entry bundle ends inside entry ${out.length} (${n} bytes announced, ${bytes.length - at - 2} left)`,
      );
    }
    out.push(bytes.subarray(at + 2, at + 2 + n));
    at += 2 + n;
  }
  if (out.length !== width) throw new TlogError('TLOG_TILE_MALFORMED', `entry bundle holds ${out.length} entries, not ${width}`);
  return out;
}
