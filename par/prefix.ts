/**
 * An archive's claims from its first bytes alone. wasmCloud's tools and Gantry's tar writer
 * put `claims.jwt` first, so a lister that only needs revision, issuer and signed hashes reads
 * a capped prefix of the layer instead of the whole archive. Tar and gzip'd tar only: a zip
 * keeps its directory at the end (PAR_BAD_FORMAT says so). Claims not within the prefix are
 * PAR_TRUNCATED. The claims are verified (signature, issuer form, validity period, trust list
 * when given); the binaries are not — whoever loads one verifies the whole archive.
 */
import { createInflateRaw, constants as zc } from 'node:zlib';
import { ParError } from './errors.js';
import { resolveLimits, type ParLimits } from './limits.js';
import { TarParser } from './tar.js';
import { detectFormat, WalkGuard, type EntryVisitor, type ParFormat } from './walk.js';
import { verifyClaimsToken, type VerifyOptions } from './verify.js';
import type { ProviderClaims } from './claims.js';

export interface PrefixClaims {
  format: ParFormat;
  jwt: string;
  claims: ProviderClaims;
}

/** Where the deflate data of a gzip member starts (RFC 1952 header), or -1 when cut short. */
function gzipBodyOffset(b: Uint8Array): number {
  if (b.length < 10 || b[0] !== 0x1f || b[1] !== 0x8b || b[2] !== 8)
    throw new ParError('PAR_BAD_FORMAT', 'not a gzip stream with deflate data');
  const flags = b[3];
  let p = 10;
  if (flags & 0x04) p = b.length >= p + 2 ? p + 2 + (b[p] | (b[p + 1] << 8)) : b.length + 1; // FEXTRA
  for (const bit of [0x08, 0x10]) {
    // FNAME, FCOMMENT: zero-terminated
    if (!(flags & bit)) continue;
    while (p < b.length && b[p] !== 0) p++;
    p++;
  }
  if (flags & 0x02) p += 2; // FHCRC
  return p <= b.length ? p : -1;
}

/**
 * Inflate the first gzip member of a prefix, handing out what comes, until `cap` bytes came
 * out or the input ends. A raw inflater stops at the member's end, so a cut stream or bytes
 * after it are not errors as long as what came before them is enough.
 */
async function inflatePrefix(prefix: Uint8Array, cap: number, push: (chunk: Uint8Array) => void): Promise<void> {
  const at = gzipBodyOffset(prefix);
  if (at < 0) return;
  const inflater = createInflateRaw({ chunkSize: 64 * 1024, finishFlush: zc.Z_SYNC_FLUSH });
  inflater.end(prefix.subarray(at));
  let produced = 0;
  try {
    for await (const chunk of inflater as AsyncIterable<Buffer>) {
      produced += chunk.length;
      push(chunk);
      if (produced > cap) return;
    }
  } catch (e) {
    if (e instanceof ParError || produced > 0) throw e;
    throw new ParError('PAR_BAD_FORMAT', `gzip stream is corrupt: ${(e as Error).message}`, { cause: e });
  } finally {
    inflater.destroy();
  }
}

/** Thrown inside the walk to stop it once the claims are in hand. */
class Found extends Error {}

export async function verifyClaimsPrefix(prefix: Uint8Array, opts: Omit<VerifyOptions, 'target'> = {}): Promise<PrefixClaims> {
  const limits: ParLimits = resolveLimits(opts.limits);
  const kind = detectFormat(prefix);
  if (kind === 'zip')
    throw new ParError('PAR_BAD_FORMAT', 'a zip archive keeps its directory at the end: its claims cannot be read from a prefix');
  let jwt: string | undefined;
  const chunks: Uint8Array[] = [];
  const visitor: EntryVisitor = {
    begin(entry) {
      if (entry.kind !== 'claims')
        throw new ParError(
          'PAR_TRUNCATED',
          `the archive's first member is ${JSON.stringify(entry.name)}, not claims.jwt: its claims are not in a prefix`,
        );
      return {
        write: (c) => void chunks.push(Buffer.from(c)),
        end: () => {
          jwt = Buffer.concat(chunks).toString('utf8');
          throw new Found();
        },
      };
    },
  };
  const parser = new TarParser(new WalkGuard(limits), visitor);
  try {
    if (kind === 'tar') parser.push(prefix);
    else await inflatePrefix(prefix, limits.maxJwtBytes + 64 * 1024, (c) => parser.push(c));
  } catch (e) {
    if (!(e instanceof Found)) {
      if (e instanceof ParError) throw e;
      throw new ParError('PAR_BAD_FORMAT', `gzip stream is corrupt: ${(e as Error).message}`, { cause: e });
    }
  }
  if (jwt === undefined) throw new ParError('PAR_TRUNCATED', `no claims.jwt within the first ${prefix.length} bytes of the archive`);
  return { format: kind === 'tar' ? 'tar' : 'tar.gz', jwt, claims: verifyClaimsToken(jwt, opts, limits) };
}

/**
 * Where the binaries of a plain tar archive lie, from its first bytes: [start, end) of each
 * member (of `target` only, when given) whose data begins within `prefix`; undefined while the
 * prefix is too short to tell; [] for any other format or a prefix that does not parse. A
 * guess for hashing in the download's pass (VerifyOptions.precomputed): verification still
 * walks the whole archive and uses a hash only where a member really lies.
 */
export function tarBinaryRanges(prefix: Uint8Array, target?: string): Array<[number, number]> | undefined {
  if (prefix.length < 512) return undefined; // a tar header is one 512-byte block
  let kind: string;
  try {
    kind = detectFormat(prefix);
  } catch {
    return [];
  }
  if (kind !== 'tar') return [];
  const ranges: Array<[number, number]> = [];
  let pending = false;
  const parser = new TarParser(new WalkGuard(resolveLimits()), {
    begin(entry) {
      if (entry.kind !== 'binary' || entry.size === 0 || (target !== undefined && entry.target !== target)) return null;
      pending = true;
      return {
        write(chunk) {
          if (!pending) return;
          pending = false;
          const start = chunk.byteOffset - prefix.byteOffset;
          ranges.push([start, start + entry.size]);
        },
        end() {},
      };
    },
  });
  try {
    parser.push(prefix);
  } catch {
    return ranges; // not a tar this reader accepts: verification will say why
  }
  // a prefix that ended before any binary's data began may just be short
  return ranges.length || parser.done ? ranges : undefined;
}
