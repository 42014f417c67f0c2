/**
 * Reading a Provider Archive's container for verification: one walk that takes the claims
 * text, every binary's declared size and the hashes of the binaries asked for, in chunks (the
 * claims are handed to a callback as soon as their member ends), and the second, extracting
 * walk for a selected binary that had to be decompressed. How much of a binary is kept while
 * it is hashed is decided here (KEEP_WHILE_HASHING_BYTES); what is checked, in par/verify.ts.
 */
import { createHash } from 'node:crypto';
import type { ProviderClaims } from './claims.js';
import { CLAIMS_ENTRY } from './entries.js';
import { ParError } from './errors.js';
import type { ParLimits } from './limits.js';
import { type EntrySink, type ParFormat, WalkGuard, walkArchive } from './walk.js';

/** The SHA-256 (hex) of bytes [start, end) of the input, computed by the caller as they arrived. */
export interface PrecomputedHash {
  start: number;
  end: number;
  hex: string;
}

/**
 * The hash of a member's bytes: precomputed when they are one view of the input at exactly a
 * part the caller hashed, else hashed here. Uppercase hex, as claims sign it.
 */
class MemberHash {
  private readonly hash = createHash('sha256');
  private known: string | undefined;
  private writes = 0;

  constructor(
    private readonly input: Uint8Array,
    private readonly size: number,
    private readonly precomputed: ReadonlyArray<PrecomputedHash> | undefined,
  ) {}

  update(chunk: Uint8Array): void {
    // Stryker disable next-line ConditionalExpression,LogicalOperator,UpdateOperator: an input in memory reaches a sink as one view per stored member, or as decompressed chunks of another buffer, so any two of these tests decide as all three do (a later chunk of the full size cannot come: the walkers never deliver more than a member declares); writes-- leaves 0 only at the first write too
    if (this.writes++ === 0 && chunk.length === this.size && this.precomputed && chunk.buffer === this.input.buffer) {
      const start = chunk.byteOffset - this.input.byteOffset;
      this.known = this.precomputed.find((p) => p.start === start && p.end === start + chunk.length)?.hex.toUpperCase();
    }
    // Stryker disable next-line ConditionalExpression: hashing a member whose hash is known only costs time — hex() answers the known hash first
    if (this.known === undefined) this.hash.update(chunk);
  }

  hex(): string {
    return this.known ?? this.hash.digest('hex').toUpperCase();
  }
}

/** What one walk of an archive yields: claims text, per-target sizes and (some) hashes. */
export interface ArchiveScan {
  format: ParFormat;
  jwt?: string;
  sizes: Map<string, number>;
  computed: Map<string, string>;
  /** the selected target's bytes, only when they arrived as one view of the input (no copy made) */
  binary?: Uint8Array;
  /** all member bytes, only when collecting for a rewrite */
  contents?: Map<string, Uint8Array>;
}

export interface ScanMode {
  target?: string;
  collect?: boolean;
  /** SHA-256s the caller computed over parts of the input as it received them (VerifyOptions.precomputed) */
  precomputed?: ReadonlyArray<PrecomputedHash>;
  /** called with the claims text as soon as the claims member ends; throwing stops the walk */
  onClaims?: (jwt: string) => ProviderClaims | void;
}

function joinChunks(chunks: Uint8Array[], size: number): Uint8Array {
  // Stryker disable next-line ConditionalExpression: one chunk is returned as is; copying it instead yields the same bytes
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A sink that hashes and/or keeps a member's bytes. */
function memberSink(
  size: number,
  hash: MemberHash | null,
  keep: boolean,
  done: (data: Uint8Array | undefined, hex: string | undefined) => void,
): EntrySink {
  const chunks: Uint8Array[] = [];
  return {
    write(chunk) {
      hash?.update(chunk);
      if (keep) chunks.push(chunk);
    },
    end() {
      done(keep ? joinChunks(chunks, size) : undefined, hash?.hex());
    },
  };
}

/**
 * Decompressed target bytes are kept during the verifying walk only when the claims have
 * already verified and sign a hash for the target, and only up to this size: the most an
 * archive that then fails its hash can make us hold. Larger binaries are extracted by a second
 * walk after the hash verified (extractTarget), trading one more inflate for flat memory.
 */
const KEEP_WHILE_HASHING_BYTES = 64 * 1024 * 1024;

/**
 * A sink for the selected target during the verifying walk: it hashes, and keeps the bytes
 * when they are a single view of the input archive (stored zip, plain tar; no memory), or —
 * `keep` — copies decompressed ones into one buffer of the declared size.
 */
function targetSink(
  input: Uint8Array,
  size: number,
  keep: boolean,
  hash: MemberHash,
  done: (bytes: Uint8Array | undefined, hex: string) => void,
): EntrySink {
  let view: Uint8Array | undefined;
  let buf: Uint8Array | undefined;
  let off = 0;
  let chunks = 0;
  return {
    write(chunk) {
      hash.update(chunk);
      chunks++;
      view = chunks === 1 && chunk.buffer === input.buffer ? chunk : undefined;
      if (!keep || view || off + chunk.length > size) return;
      buf ??= new Uint8Array(size);
      buf.set(chunk, off);
      off += chunk.length;
    },
    end() {
      // Stryker disable next-line ConditionalExpression,LogicalOperator,EqualityOperator: the walkers end a member only after exactly its declared bytes (zip's inflateInto and tar throw otherwise), so a buffer here is always full; and undefined only sends the caller to the second walk (extractTarget) for the same bytes
      done(view ?? (buf && off === size ? buf : undefined), hash.hex());
    },
  };
}

/** Walks the archive once, as `mode` asks; see ArchiveScan for what it gathers. */
export async function scanArchive(bytes: Uint8Array, limits: ParLimits, mode: ScanMode): Promise<ArchiveScan> {
  const guard = new WalkGuard(limits);
  // Stryker disable next-line StringLiteral: a placeholder; walkArchive's result replaces it before anyone reads it
  const scan: ArchiveScan = { format: 'zip', sizes: new Map(), computed: new Map() };
  // Stryker disable next-line ConditionalExpression: without collect only the claims would land in an unused map
  if (mode.collect) scan.contents = new Map();
  let verifiedClaims: ProviderClaims | undefined;
  scan.format = await walkArchive(bytes, guard, {
    begin(entry) {
      if (entry.kind === 'claims') {
        return memberSink(entry.size, null, true, (data) => {
          scan.jwt = Buffer.from(data!).toString('utf8');
          scan.contents?.set(CLAIMS_ENTRY, data!);
          verifiedClaims = mode.onClaims?.(scan.jwt) ?? undefined;
        });
      }
      const { target } = entry;
      scan.sizes.set(target, entry.size);
      if (!mode.collect && mode.target === target) {
        // kept while hashing only behind verified claims that sign this target, and only so much
        const keep = verifiedClaims?.hashes[target] !== undefined && entry.size <= KEEP_WHILE_HASHING_BYTES;
        return targetSink(bytes, entry.size, keep, new MemberHash(bytes, entry.size, mode.precomputed), (kept, hex) => {
          scan.computed.set(target, hex);
          scan.binary = kept ?? (entry.size === 0 ? new Uint8Array(0) : undefined);
        });
      }
      const selected =
        mode.target === undefined ||
        // the selected target took the branch above unless collecting, and collecting selects no target
        // Stryker disable next-line ConditionalExpression: as above
        mode.target === target;
      if (!selected && !mode.collect) return null;
      const hash = selected ? new MemberHash(bytes, entry.size, mode.precomputed) : null;
      return memberSink(entry.size, hash, mode.collect === true, (data, hex) => {
        // members reaching here are all hashed (unselected ones returned null above unless collecting, which selects all)
        // Stryker disable next-line ConditionalExpression: as above
        if (hex) scan.computed.set(target, hex);
        if (mode.collect) scan.contents!.set(target, data!);
      });
    },
  });
  return scan;
}

/**
 * The second, extracting walk for a target whose bytes had to be decompressed: runs only after
 * the claims and the first walk's hash of the same bytes verified, writes them once into a
 * buffer of the declared size, and hashes exactly what it keeps against the signed value.
 */
export async function extractTarget(bytes: Uint8Array, limits: ParLimits, target: string, signedHex: string): Promise<Uint8Array> {
  let out: Uint8Array | undefined;
  let hex: string | undefined;
  await walkArchive(bytes, new WalkGuard(limits), {
    begin(entry) {
      // Stryker disable next-line ConditionalExpression: a claims entry has no target, so the target test refuses it too
      if (entry.kind !== 'binary' || entry.target !== target) return null;
      const buf = new Uint8Array(entry.size);
      const hash = createHash('sha256');
      let off = 0;
      return {
        write(chunk) {
          // unreachable, the walkers never deliver more than a member declares (hostile.test.ts, declared-size bomb); kept as a bound on
          // buf
          // Stryker disable next-line ConditionalExpression,ArithmeticOperator,StringLiteral: as above
          if (off + chunk.length > buf.length)
            throw new ParError('PAR_TOO_LARGE', `entry for ${target} is longer than its declared ${entry.size} bytes`);
          buf.set(chunk, off);
          off += chunk.length;
          hash.update(chunk);
        },
        end() {
          out = buf;
          hex = hash.digest('hex').toUpperCase();
        },
      };
    },
  });
  // unreachable for an input that does not change during the call, the first walk hashed these same bytes against signedHex; kept in case
  // it does
  // Stryker disable next-line ConditionalExpression,LogicalOperator,BlockStatement: as above
  if (!out || hex !== signedHex) {
    // Stryker disable next-line StringLiteral,LogicalOperator: as above
    throw new ParError(
      'PAR_HASH_MISMATCH',
      `binary for ${target} hashes to ${hex ?? '(absent)'} on extraction but the claims sign ${signedHex}; the archive is not stable`,
    );
  }
  return out;
}
