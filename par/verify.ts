/**
 * Verifying a Provider Archive: the checks Gantry runs everywhere it reads one (push, pull,
 * the controller's resolve, the agent before loading). Upstream checks none of the first
 * four; we check all of them, in this order, and stop at the first failure with its code:
 *
 *  1. there is a claims.jwt (PAR_UNSIGNED) with the one accepted header (PAR_BAD_ALGORITHM)
 *  2. its Ed25519 signature verifies against `iss`, over the original text (PAR_SIGNATURE_INVALID)
 *  3. `iss` is an account key (PAR_BAD_ISSUER) on the trust list if one is given
 *     (PAR_UNTRUSTED_ISSUER); `sub` is a service key (PAR_BAD_SUBJECT)
 *  4. `exp`/`nbf` hold at `now` (PAR_EXPIRED, PAR_NOT_YET_VALID)
 *  5. binaries and hashes pair up exactly (PAR_NO_BINARIES, PAR_UNHASHED_TARGET, PAR_MISSING_BINARY)
 *  6. every binary read hashes to its signed SHA-256 (PAR_HASH_MISMATCH)
 *
 * Cheap things first: steps 1–4 run the moment the claims member has been read (zip walks it
 * first; wasmCloud's and our tars put it first), so an unsigned, untrusted or expired archive
 * is refused before a binary byte is read. Hashing happens while the container is walked (and
 * decompressed), in chunks: with a target selected only that binary is hashed; the others need
 * only be declared and signed, so a zip or plain tar never even reads their bytes. The
 * selected binary is handed back as a view of the input when it is stored there as is (no
 * copy). Decompressed, it is copied once into a buffer of its declared size while it is hashed
 * only when the claims already verified and sign its hash and it is at most 64 MiB; otherwise
 * it is extracted by a second walk after claims and hash verified, hashed again as it is
 * written. So an archive that fails costs the input plus zlib's buffers plus at most 64 MiB,
 * however far it expands.
 */
import { createHash, type Hash } from 'node:crypto';
import { ParError } from './errors.js';
import { assertValidTarget, CLAIMS_ENTRY, WORLD_TARGET } from './entries.js';
import { resolveLimits, type ParLimits } from './limits.js';
import { assertClaimsHeader, claimsSignatureValid, decodeClaimsJwt, type DecodedClaimsJwt } from './jwt.js';
import { normalizeProviderClaims, type ProviderClaims } from './claims.js';
import { keyTypeOf } from './nkeys.js';
import { WalkGuard, walkArchive, type EntrySink, type ParFormat } from './walk.js';

export interface ParTarget {
  /** uppercase hex SHA-256: computed from the bytes when read, else the signed value */
  sha256: string;
  size: number;
}

export interface VerifyOptions {
  /** allowed issuer account keys; undefined = any issuer, [] = none */
  trustedIssuers?: string[];
  /** read, hash and return only this target's binary (e.g. 'x86_64-linux') */
  target?: string;
  /** the time `exp`/`nbf` are checked against (default: now) */
  now?: Date;
  limits?: Partial<ParLimits>;
}

export interface VerifiedPar {
  format: ParFormat;
  jwt: string;
  claims: ProviderClaims;
  targets: Record<string, ParTarget>;
  /** the selected target's bytes, only when `opts.target` is given (may share memory with the input) */
  binary?: Uint8Array;
}

/** What one walk of an archive yields: claims text, per-target sizes and (some) hashes. */
interface ArchiveScan {
  format: ParFormat;
  jwt?: string;
  sizes: Map<string, number>;
  computed: Map<string, string>;
  /** the selected target's bytes, only when they arrived as one view of the input (no copy made) */
  binary?: Uint8Array;
  /** all member bytes, only when collecting for a rewrite */
  contents?: Map<string, Uint8Array>;
}

interface ScanMode {
  target?: string;
  collect?: boolean;
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
  hash: Hash | null,
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
      done(keep ? joinChunks(chunks, size) : undefined, hash?.digest('hex').toUpperCase());
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
function targetSink(input: Uint8Array, size: number, keep: boolean, done: (bytes: Uint8Array | undefined, hex: string) => void): EntrySink {
  const hash = createHash('sha256');
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
      done(view ?? (buf && off === size ? buf : undefined), hash.digest('hex').toUpperCase());
    },
  };
}

async function scanArchive(bytes: Uint8Array, limits: ParLimits, mode: ScanMode): Promise<ArchiveScan> {
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
        return targetSink(bytes, entry.size, keep, (kept, hex) => {
          scan.computed.set(target, hex);
          scan.binary = kept ?? (entry.size === 0 ? new Uint8Array(0) : undefined);
        });
      }
      const selected =
        mode.target === undefined ||
        // Stryker disable next-line ConditionalExpression: the selected target took the branch above unless collecting, and collecting selects no target
        mode.target === target;
      if (!selected && !mode.collect) return null;
      return memberSink(entry.size, selected ? createHash('sha256') : null, mode.collect === true, (data, hex) => {
        // Stryker disable next-line ConditionalExpression: members reaching here are all hashed (unselected ones returned null above unless collecting, which selects all)
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
async function extractTarget(bytes: Uint8Array, limits: ParLimits, target: string, signedHex: string): Promise<Uint8Array> {
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
          // Stryker disable next-line ConditionalExpression,ArithmeticOperator,StringLiteral: unreachable, the walkers never deliver more than a member declares (hostile.test.ts, declared-size bomb); kept as a bound on buf
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
  // Stryker disable next-line ConditionalExpression,LogicalOperator,BlockStatement: unreachable for an input that does not change during the call, the first walk hashed these same bytes against signedHex; kept in case it does
  if (!out || hex !== signedHex) {
    // Stryker disable next-line StringLiteral,LogicalOperator: as above
    throw new ParError(
      'PAR_HASH_MISMATCH',
      `binary for ${target} hashes to ${hex ?? '(absent)'} on extraction but the claims sign ${signedHex}; the archive is not stable`,
    );
  }
  return out;
}

function checkIdentity(claims: ProviderClaims, opts: VerifyOptions): void {
  if (!safeType(claims.issuer, 'account')) {
    throw new ParError('PAR_BAD_ISSUER', `claims issuer ${claims.issuer} is not an account key (A…); PARs are signed by accounts`);
  }
  if (opts.trustedIssuers !== undefined && !opts.trustedIssuers.includes(claims.issuer)) {
    throw new ParError(
      'PAR_UNTRUSTED_ISSUER',
      opts.trustedIssuers.length === 0
        ? `issuer ${claims.issuer} is not trusted: the trust list is empty`
        : `issuer ${claims.issuer} is not on the trust list (${opts.trustedIssuers.join(', ')})`,
    );
  }
  if (!safeType(claims.subject, 'service')) {
    throw new ParError(
      'PAR_BAD_SUBJECT',
      `claims subject ${claims.subject} is not a service key (V…); a provider is named by a service key`,
    );
  }
}

function safeType(key: string, type: string): boolean {
  // Stryker disable BlockStatement: an empty catch returns undefined, as falsy as false (this also ignores the try block's mutant, which the subject tests kill)
  try {
    return keyTypeOf(key) === type;
  } catch {
    return false;
  }
}

// Stryker restore BlockStatement

/**
 * A signed instant for a message: ISO 8601, or the raw seconds when it lies beyond what Date
 * can show (±8.64e12 s), where toISOString would throw a RangeError instead of our ParError.
 */
function instant(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? `${seconds} s after 1970-01-01T00:00:00Z` : d.toISOString();
}

function checkTimes(claims: ProviderClaims, now: Date): void {
  const t = Math.floor(now.getTime() / 1000);
  // Stryker disable next-line ConditionalExpression: with expires undefined, t >= undefined is false anyway
  if (claims.expires !== undefined && t >= claims.expires) {
    throw new ParError('PAR_EXPIRED', `archive claims expired at ${instant(claims.expires)}; re-sign it with a later expiry`);
  }
  // Stryker disable next-line ConditionalExpression: with notBefore undefined, t < undefined is false anyway
  if (claims.notBefore !== undefined && t < claims.notBefore) {
    throw new ParError('PAR_NOT_YET_VALID', `archive claims are not valid before ${instant(claims.notBefore)}`);
  }
}

function checkBinaries(claims: ProviderClaims, scan: ArchiveScan, target: string | undefined): void {
  if (![...scan.sizes.keys()].some((t) => t !== WORLD_TARGET))
    throw new ParError('PAR_NO_BINARIES', 'archive has no binaries (<arch>-<os>.bin); nothing to run');
  for (const t of scan.sizes.keys()) {
    if (!(t in claims.hashes))
      throw new ParError('PAR_UNHASHED_TARGET', `binary for ${t} has no signed hash in the claims; it may have been added after signing`);
  }
  for (const t of Object.keys(claims.hashes)) {
    if (!scan.sizes.has(t)) throw new ParError('PAR_MISSING_BINARY', `claims sign a hash for ${t} but the archive has no binary for it`);
  }
  if (target !== undefined && !scan.sizes.has(target)) {
    const have = [...scan.sizes.keys()].join(', ');
    throw new ParError('PAR_TARGET_NOT_FOUND', `archive has no binary for target ${target} (it has: ${have})`);
  }
  for (const [t, hex] of scan.computed) {
    if (claims.hashes[t] !== hex) {
      throw new ParError(
        'PAR_HASH_MISMATCH',
        `binary for ${t} hashes to ${hex} but the claims sign ${claims.hashes[t]}; the binary was altered`,
      );
    }
  }
}

function requireClaims(scan: ArchiveScan): string {
  if (scan.jwt === undefined)
    throw new ParError(
      'PAR_UNSIGNED',
      'archive has no claims.jwt: it is unsigned (sign it with `gantry par create` or `gantry par insert`)',
    );
  return scan.jwt;
}

function verifyScan(scan: ArchiveScan, opts: VerifyOptions, limits: ParLimits): { decoded: DecodedClaimsJwt; claims: ProviderClaims } {
  const decoded = decodeClaimsJwt(requireClaims(scan), { maxBytes: limits.maxJwtBytes });
  checkSigned(decoded, claimsSignatureValid(decoded));
  const claims = normalizeProviderClaims(decoded.payload);
  checkScan(claims, scan, opts);
  return { decoded, claims };
}

/** Step 2 (list above): an nkey issuer whose signature holds; `signatureValid` is computed once by the caller. */
function checkSigned(decoded: DecodedClaimsJwt, signatureValid: boolean): void {
  const iss = decoded.payload.iss;
  if (typeof iss !== 'string' || iss === '') throw new ParError('PAR_BAD_CLAIMS', 'claims have no issuer (iss)');
  if (!isNkey(iss)) throw new ParError('PAR_BAD_ISSUER', `claims issuer ${JSON.stringify(iss)} is not a valid nkey`);
  if (!signatureValid) {
    throw new ParError(
      'PAR_SIGNATURE_INVALID',
      `claims signature does not verify against issuer ${iss}; the claims were altered after signing or signed by another key`,
    );
  }
}

/** Steps 3–6 (list above) on signed claims: identity, times and the binaries walked. */
function checkScan(claims: ProviderClaims, scan: ArchiveScan, opts: VerifyOptions): void {
  checkIdentity(claims, opts);
  checkTimes(claims, opts.now ?? new Date());
  checkBinaries(claims, scan, opts.target);
}

function isNkey(key: string): boolean {
  // Stryker disable BlockStatement: an empty catch returns undefined, as falsy as false (this also ignores the try block's mutant, which the issuer tests kill)
  try {
    keyTypeOf(key);
    return true;
  } catch {
    return false;
  }
}

// Stryker restore BlockStatement

function targetsOf(claims: ProviderClaims, scan: ArchiveScan): Record<string, ParTarget> {
  const out: Record<string, ParTarget> = {};
  for (const t of [...scan.sizes.keys()].sort()) {
    out[t] = { sha256: scan.computed.get(t) ?? claims.hashes[t], size: scan.sizes.get(t)! };
  }
  return out;
}

/**
 * Verifies a PAR held in memory; throws ParError with a stable code on the first failure.
 *
 *   const par = await verifyPar(bytes, { trustedIssuers: ['A…'], target: 'x86_64-linux' });
 *   writeFileSync(libPath, par.binary!);
 */
export async function verifyPar(bytes: Uint8Array, opts: VerifyOptions = {}): Promise<VerifiedPar> {
  if (opts.target !== undefined) assertValidTarget(opts.target);
  const limits = resolveLimits(opts.limits);
  // the claims are checked the moment their member ends: an unsigned, untrusted or expired
  // archive whose claims come first is refused before any binary byte is read
  let early: { decoded: DecodedClaimsJwt; claims: ProviderClaims } | undefined;
  const onClaims = (jwt: string): ProviderClaims => (early = verifyClaims(jwt, opts, limits)).claims;
  const scan = await scanArchive(bytes, limits, { target: opts.target, onClaims });
  let decoded: DecodedClaimsJwt;
  let claims: ProviderClaims;
  // Stryker disable next-line ConditionalExpression: verifyScan would verify the same claims again, with the same result
  if (early) {
    // the claims verified as they were read (a second claims member would be PAR_BAD_ENTRY)
    ({ decoded, claims } = early);
    checkBinaries(claims, scan, opts.target);
  } else ({ decoded, claims } = verifyScan(scan, opts, limits));
  const result: VerifiedPar = { format: scan.format, jwt: decoded.jwt, claims, targets: targetsOf(claims, scan) };
  if (opts.target !== undefined)
    result.binary = scan.binary ?? (await extractTarget(bytes, limits, opts.target, claims.hashes[opts.target]));
  return result;
}

/** Steps 1–4 on the claims text alone (no binaries); throws ParError. */
export function verifyClaimsToken(
  jwt: string,
  opts: Pick<VerifyOptions, 'trustedIssuers' | 'now'>,
  limits: ParLimits = resolveLimits(),
): ProviderClaims {
  return verifyClaims(jwt, opts, limits).claims;
}

function verifyClaims(
  jwt: string,
  opts: Pick<VerifyOptions, 'trustedIssuers' | 'now'>,
  limits: ParLimits,
): { decoded: DecodedClaimsJwt; claims: ProviderClaims } {
  const decoded = decodeClaimsJwt(jwt, { maxBytes: limits.maxJwtBytes });
  checkSigned(decoded, claimsSignatureValid(decoded));
  const claims = normalizeProviderClaims(decoded.payload);
  checkIdentity(claims, opts);
  checkTimes(claims, opts.now ?? new Date());
  return { decoded, claims };
}

export interface InspectedTarget extends ParTarget {
  /** the SHA-256 the claims sign for this target, if any */
  signedSha256: string | null;
  hashMatches: boolean;
}

export interface InspectedPar {
  format: ParFormat;
  jwt: string;
  header: Record<string, unknown>;
  claims: ProviderClaims;
  /** binaries present, with the hash computed from their bytes */
  targets: Record<string, InspectedTarget>;
  /** targets the claims sign but the archive lacks */
  missingTargets: string[];
  signature: 'valid' | 'invalid';
  /** the first verification failure (trust lists aside), or null when the archive verifies */
  problem: { code: string; message: string } | null;
}

/**
 * Reads an archive for display: hostile structure is still refused (the same walk and caps),
 * but a bad signature, alien header, expiry or hash mismatch is reported, not thrown.
 */
export async function inspectPar(bytes: Uint8Array, opts: { now?: Date; limits?: Partial<ParLimits> } = {}): Promise<InspectedPar> {
  const limits = resolveLimits(opts.limits);
  const scan = await scanArchive(bytes, limits, {});
  const decoded = decodeClaimsJwt(requireClaims(scan), { maxBytes: limits.maxJwtBytes, allowAnyHeader: true });
  const claims = normalizeProviderClaims(decoded.payload);
  // the token is decoded and its signature checked once; the strict header check is the verifier's own
  const signatureValid = claimsSignatureValid(decoded);
  // Stryker disable next-line ConditionalExpression: claimsSignatureValid is already false for any other alg, so only `signature` reads this and it ANDs both
  const edAlg = decoded.header.alg === 'Ed25519';
  const exactHeader = edAlg && Object.keys(decoded.header).length === 2;
  let problem: InspectedPar['problem'] = null;
  try {
    assertClaimsHeader(decoded.header);
    checkSigned(decoded, signatureValid);
    checkScan(claims, scan, { now: opts.now });
  } catch (err) {
    // Stryker disable next-line ConditionalExpression: every check here throws only ParError (a RangeError from an out-of-range date was the one exception, fixed); a bug's error is rethrown
    if (!(err instanceof ParError)) throw err;
    problem = { code: err.code, message: err.message };
  }
  const signature = exactHeader && signatureValid ? 'valid' : 'invalid';
  const targets: Record<string, InspectedTarget> = {};
  for (const t of [...scan.sizes.keys()].sort()) {
    const sha256 = scan.computed.get(t)!;
    const signed = claims.hashes[t] ?? null;
    targets[t] = { sha256, size: scan.sizes.get(t)!, signedSha256: signed, hashMatches: signed === sha256 };
  }
  const missingTargets = Object.keys(claims.hashes)
    .filter((t) => !scan.sizes.has(t))
    .sort();
  return { format: scan.format, jwt: decoded.jwt, header: decoded.header, claims, targets, missingTargets, signature, problem };
}

/** Verifies, then returns every member's bytes (for rewriting an archive). */
export async function readVerifiedContents(
  bytes: Uint8Array,
  opts: VerifyOptions = {},
): Promise<{ verified: VerifiedPar; binaries: Map<string, Uint8Array> }> {
  const limits = resolveLimits(opts.limits);
  const scan = await scanArchive(bytes, limits, { collect: true });
  const { decoded, claims } = verifyScan(scan, { ...opts, target: undefined }, limits);
  const binaries = new Map(scan.contents!);
  binaries.delete(CLAIMS_ENTRY);
  return { verified: { format: scan.format, jwt: decoded.jwt, claims, targets: targetsOf(claims, scan) }, binaries };
}
