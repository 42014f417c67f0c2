/**
 * Writing Provider Archives: hash each binary, put the hashes in wascap claims, sign them with
 * the issuer's account seed, and pack claims.jwt plus `<arch>-<os>.bin` members into a zip
 * (default), a tar or a gzip'd tar laid out as wasmCloud writes them. Nothing is written that
 * our own reader would refuse: targets, keys and sizes are checked first.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { ParError } from './errors.js';
import { assertValidTarget, CLAIMS_ENTRY, entryNameForTarget, WORLD_TARGET } from './entries.js';
import { DEFAULT_PAR_LIMITS, formatBytes } from './limits.js';
import { decodeSeed, publicKeyFromSeed } from './nkeys.js';
import { providerClaimsJson, type ProviderClaimsInput } from './claims.js';
import { signClaims } from './jwt.js';
import { writeTar } from './tar.js';
import { writeZip } from './zip.js';
import { readVerifiedContents, type VerifyOptions } from './verify.js';
import type { ParFormat } from './walk.js';

export interface CreateParOptions {
  name: string;
  vendor: string;
  capid?: string;
  version?: string;
  revision: number;
  /** account seed (SA…) that signs the claims */
  issuerSeed: string;
  /** service seed (SV…) whose public key names the provider */
  subjectSeed: string;
  /** target ('x86_64-linux', 'world.wasm', …) → bytes */
  binaries: Record<string, Uint8Array>;
  format?: ParFormat;
  expiresInSeconds?: number;
  /** seconds since the epoch before which the claims are not valid */
  notBefore?: number;
  configSchema?: unknown;
  /** zip only: deflate binaries too (smaller, slower to write and verify); default stored */
  compressBinaries?: boolean;
}

export const PAR_FORMATS: readonly ParFormat[] = ['zip', 'tar', 'tar.gz'];

function requireSeedOf(seed: string, type: 'account' | 'service', role: string): string {
  let decoded: ReturnType<typeof decodeSeed>;
  try {
    decoded = decodeSeed(seed);
  } catch (err) {
    throw new ParError('PAR_BAD_KEY', `${role} seed is invalid: ${(err as Error).message}`);
  }
  if (decoded.type !== type) {
    const want = type === 'account' ? 'an account seed (SA…)' : 'a service seed (SV…)';
    throw new ParError('PAR_BAD_KEY', `${role} seed must be ${want}, got a ${decoded.type} seed`);
  }
  return publicKeyFromSeed(seed);
}

function checkBinaries(binaries: Record<string, Uint8Array> | Map<string, Uint8Array>): [string, Uint8Array][] {
  const list = binaries instanceof Map ? [...binaries] : Object.entries(binaries);
  if (list.filter(([t]) => t !== WORLD_TARGET).length === 0) {
    throw new ParError('PAR_NO_BINARIES', 'a PAR needs at least one <arch>-<os> binary');
  }
  let total = 0;
  for (const [target, data] of list) {
    assertValidTarget(target);
    if (!(data instanceof Uint8Array)) throw new ParError('PAR_BAD_ENTRY', `binary for ${target} is not bytes`);
    if (data.length > DEFAULT_PAR_LIMITS.maxEntryBytes) {
      throw new ParError(
        'PAR_TOO_LARGE',
        `binary for ${target} is ${formatBytes(data.length)}, over the ${formatBytes(DEFAULT_PAR_LIMITS.maxEntryBytes)} limit readers enforce`,
      );
    }
    total += data.length;
  }
  if (total > DEFAULT_PAR_LIMITS.maxTotalBytes)
    throw new ParError('PAR_TOO_LARGE', 'binaries together exceed the total size readers enforce');
  // world.wasm first, then targets in name order: stable archives from the same inputs
  return list.sort(([a], [b]) => (a === WORLD_TARGET ? -1 : b === WORLD_TARGET ? 1 : a < b ? -1 : a > b ? 1 : 0));
}

function sha256Upper(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex').toUpperCase();
}

/** Packs signed claims and binaries into the requested container. */
export async function packPar(
  jwt: string,
  binaries: [string, Uint8Array][],
  format: ParFormat,
  compressBinaries = false,
): Promise<Uint8Array> {
  const claims = Buffer.from(jwt, 'utf8');
  if (format === 'zip') {
    return writeZip([
      { name: CLAIMS_ENTRY, data: claims, compress: true },
      ...binaries.map(([t, data]) => ({ name: entryNameForTarget(t), data, compress: compressBinaries })),
    ]);
  }
  if (format !== 'tar' && format !== 'tar.gz') {
    throw new ParError('PAR_BAD_FORMAT', `unknown archive format ${JSON.stringify(format)}; use zip, tar or tar.gz`);
  }
  const tar = writeTar([{ name: CLAIMS_ENTRY, data: claims }, ...binaries.map(([t, data]) => ({ name: entryNameForTarget(t), data }))]);
  if (format === 'tar') return tar;
  const gz = gzipSync(tar);
  return new Uint8Array(gz.buffer, gz.byteOffset, gz.length);
}

function signedArchiveParts(claims: ProviderClaimsInput, issuerSeed: string): string {
  return signClaims(providerClaimsJson(claims), issuerSeed);
}

/** Creates a signed PAR. Throws ParError (PAR_BAD_KEY, PAR_BAD_TARGET, PAR_NO_BINARIES, …). */
export async function createPar(opts: CreateParOptions): Promise<Uint8Array> {
  const format = opts.format ?? 'zip';
  if (!PAR_FORMATS.includes(format))
    throw new ParError('PAR_BAD_FORMAT', `unknown archive format ${JSON.stringify(format)}; use zip, tar or tar.gz`);
  if (typeof opts.name !== 'string' || opts.name.trim() === '') throw new ParError('PAR_BAD_CLAIMS', 'a PAR needs a name');
  if (typeof opts.vendor !== 'string' || opts.vendor.trim() === '') throw new ParError('PAR_BAD_CLAIMS', 'a PAR needs a vendor');
  if (!Number.isInteger(opts.revision) || opts.revision < 0)
    throw new ParError('PAR_BAD_CLAIMS', `revision must be a non-negative integer, got ${opts.revision}`);
  if (opts.expiresInSeconds !== undefined && !(opts.expiresInSeconds > 0))
    throw new ParError('PAR_BAD_CLAIMS', 'expiry must be a positive number of seconds');
  const issuer = requireSeedOf(opts.issuerSeed, 'account', 'issuer');
  const subject = requireSeedOf(opts.subjectSeed, 'service', 'subject');
  const binaries = checkBinaries(opts.binaries);
  const now = Math.floor(Date.now() / 1000);
  const hashes: Record<string, string> = {};
  for (const [t, data] of binaries) hashes[t] = sha256Upper(data);
  const jwt = signedArchiveParts(
    {
      issuedAt: now,
      expires: opts.expiresInSeconds !== undefined ? now + Math.floor(opts.expiresInSeconds) : undefined,
      notBefore: opts.notBefore,
      issuer,
      subject,
      name: opts.name,
      vendor: opts.vendor,
      capid: opts.capid,
      version: opts.version,
      revision: opts.revision,
      hashes,
      configSchema: opts.configSchema,
    },
    opts.issuerSeed,
  );
  return packPar(jwt, binaries, format, opts.compressBinaries);
}

export interface InsertTargetOptions {
  target: string;
  binary: Uint8Array;
  /** account seed that re-signs the claims (becomes the new `iss`) */
  issuerSeed: string;
  /** output container; default: the input's */
  format?: ParFormat;
  /** verification of the input (trust list, time, limits); the target option is ignored */
  verify?: VerifyOptions;
}

/**
 * Adds or replaces one target and re-signs. The input must verify first, so re-signing can
 * never launder a tampered binary; name, vendor, capid, version, revision, subject, expiry and
 * config schema are kept, jti and iat are new.
 */
export async function insertTarget(bytes: Uint8Array, opts: InsertTargetOptions): Promise<Uint8Array> {
  assertValidTarget(opts.target);
  const issuer = requireSeedOf(opts.issuerSeed, 'account', 'issuer');
  const { verified, binaries } = await readVerifiedContents(bytes, opts.verify);
  binaries.set(opts.target, opts.binary);
  const list = checkBinaries(binaries);
  const c = verified.claims;
  const hashes: Record<string, string> = {};
  for (const [t, data] of list) hashes[t] = t === opts.target ? sha256Upper(data) : c.hashes[t];
  const jwt = signedArchiveParts(
    {
      issuedAt: Math.floor(Date.now() / 1000),
      expires: c.expires,
      notBefore: c.notBefore,
      issuer,
      subject: c.subject,
      name: c.name,
      vendor: c.vendor,
      capid: c.capid,
      version: c.version,
      revision: c.revision,
      hashes,
      configSchema: c.configSchema,
    },
    opts.issuerSeed,
  );
  return packPar(jwt, list, opts.format ?? verified.format);
}
