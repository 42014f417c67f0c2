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
 *
 * The steps live in par/verify-claims.ts (1–4) and par/verify-binaries.ts (5–6), the walks in
 * par/scan.ts; this file puts them together for each way an archive is read.
 */
import { normalizeProviderClaims, type ProviderClaims } from './claims.js';
import { assertValidTarget, CLAIMS_ENTRY } from './entries.js';
import { ParError } from './errors.js';
import { assertClaimsHeader, claimsSignatureValid, type DecodedClaimsJwt, decodeClaimsJwt } from './jwt.js';
import { type ParLimits, resolveLimits } from './limits.js';
import { type ArchiveScan, extractTarget, type PrecomputedHash, scanArchive } from './scan.js';
import { checkBinaries, type ParTarget, targetsOf } from './verify-binaries.js';
import { type ClaimsCheckOptions, checkClaims, checkSigned, type VerifiedClaims, verifyClaims } from './verify-claims.js';
import type { ParFormat } from './walk.js';

export type { ParTarget } from './verify-binaries.js';

export interface VerifyOptions extends ClaimsCheckOptions {
  /** read, hash and return only this target's binary (e.g. 'x86_64-linux') */
  target?: string;
  /**
   * SHA-256s the caller computed over parts of `bytes` in the pass that received them (a
   * registry download hashing the archive's members beside its digest): a member stored as is
   * at exactly such a part is not hashed a second time. Only hashes computed over these very
   * bytes belong here — never values read from the archive, a manifest or a registry.
   */
  precomputed?: ReadonlyArray<PrecomputedHash>;
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
  let early: VerifiedClaims | undefined;
  const onClaims = (jwt: string): ProviderClaims => (early = verifyClaims(jwt, opts, limits)).claims;
  const scan = await scanArchive(bytes, limits, { target: opts.target, onClaims, precomputed: opts.precomputed });
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

/** The claims a walk found, or PAR_UNSIGNED. */
function requireClaims(scan: ArchiveScan): string {
  if (scan.jwt === undefined)
    throw new ParError(
      'PAR_UNSIGNED',
      'archive has no claims.jwt: it is unsigned (sign it with `gantry par create` or `gantry par insert`)',
    );
  return scan.jwt;
}

/** Steps 1–6 on a finished walk. */
function verifyScan(scan: ArchiveScan, opts: VerifyOptions, limits: ParLimits): VerifiedClaims {
  const verified = verifyClaims(requireClaims(scan), opts, limits);
  checkBinaries(verified.claims, scan, opts.target);
  return verified;
}

/** Steps 3–6 on signed claims: identity, times and the binaries walked. */
function checkScan(claims: ProviderClaims, scan: ArchiveScan, opts: VerifyOptions): void {
  checkClaims(claims, opts);
  checkBinaries(claims, scan, opts.target);
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
  // claimsSignatureValid is already false for any other alg, so only `signature` reads this and it ANDs both
  // Stryker disable next-line ConditionalExpression: as above
  const edAlg = decoded.header.alg === 'Ed25519';
  const exactHeader = edAlg && Object.keys(decoded.header).length === 2;
  let problem: InspectedPar['problem'] = null;
  try {
    assertClaimsHeader(decoded.header);
    checkSigned(decoded, signatureValid);
    checkScan(claims, scan, { now: opts.now });
  } catch (err) {
    // every check here throws only ParError (a RangeError from an out-of-range date was the one exception, fixed); a bug's error is
    // rethrown
    // Stryker disable next-line ConditionalExpression: as above
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
