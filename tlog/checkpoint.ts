/**
 * C2SP tlog-checkpoint bodies: the text a log signs (as a signed note, tlog/note.ts) to commit
 * to its state.
 *
 *   <origin>\n            the log's identity, non-empty (Gantry: `gantry-log/v1 <registry>/<repository>`)
 *   <tree size>\n         ASCII decimal, no sign, no leading zeros ("0" only for the empty tree)
 *   <root hash>\n         standard padded base64 of the 32-byte RFC 6962 root, canonical
 *   [<extension>\n …]     optional, opaque, each non-empty (Gantry writes none)
 *
 * Parsing is strict (one spelling per checkpoint): CR, other control characters, a missing
 * final newline, an empty extension line, base64url, unpadded or non-canonical base64 and
 * roots that are not 32 bytes are all TLOG_CHECKPOINT_MALFORMED. Sizes above 2^53−1 are refused
 * too (the C2SP text allows uint64; no Gantry log comes near, and JavaScript numbers stay exact).
 */
import { decodeBase64, encodeBase64 } from './base64.js';
import { TlogError } from './errors.js';
import { HASH_SIZE } from './merkle.js';

export interface Checkpoint {
  origin: string;
  size: number;
  /** 32-byte RFC 6962 root hash */
  root: Uint8Array;
  /** opaque extension lines (without their newlines) */
  extensions: string[];
}

function malformed(reason: string): never {
  throw new TlogError('TLOG_CHECKPOINT_MALFORMED', `not a tlog-checkpoint: ${reason}`);
}

const MAX_U64 = (1n << 64n) - 1n;

/** Parses a checkpoint body (the note text, ending in a newline). */
export function parseCheckpoint(text: string): Checkpoint {
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) malformed('it contains a control character other than newline');
  if (!text.endsWith('\n')) malformed('it does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) malformed(`it has ${lines.length} lines, at least 3 are needed (origin, size, root)`);
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === '') malformed('the origin line is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText))
    malformed(`the tree size ${JSON.stringify(sizeText)} is not a decimal number without sign or leading zeros`);
  const big = BigInt(sizeText);
  if (big > MAX_U64) malformed(`the tree size ${sizeText} does not fit in 64 bits`);
  if (big > BigInt(Number.MAX_SAFE_INTEGER))
    malformed(`the tree size ${sizeText} is above 2^53−1, which this implementation does not handle`);
  const root = decodeBase64(rootText, { canonical: true });
  if (!root) malformed(`the root hash ${JSON.stringify(rootText)} is not canonical standard base64 with padding`);
  if (root.length !== HASH_SIZE) malformed(`the root hash is ${root.length} bytes, not ${HASH_SIZE}`);
  if (extensions.some((l) => l === '')) malformed('an extension line is empty');
  return { origin, size: Number(big), root, extensions };
}

/** The checkpoint body for `c`, byte for byte as parseCheckpoint reads it. */
export function formatCheckpoint(c: Checkpoint): string {
  const text = `${c.origin}\n${c.size}\n${encodeBase64(c.root)}\n${c.extensions.map((l) => l + '\n').join('')}`;
  parseCheckpoint(text); // refuse to write what we would refuse to read
  return text;
}
