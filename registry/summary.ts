/**
 * The claims summary kept in each archive's config blob, so a revision can be resolved —
 * name, capid, issuer, targets and their hashes — without downloading the archive. It is a
 * copy of signed facts, not a source of trust: whoever reads it without the archive verifies
 * the claims JWT beside it and uses only what that signs (verifiedSummaryOfConfig); pull
 * verifies the archive itself and refuses it when any field of the summary disagrees.
 */
import { decodeClaimsJwt, isParError, type ProviderClaims, type VerifiedPar, verifyClaimsToken } from '../par/index.js';
import { RegistryError } from './errors.js';

export interface ArchiveSummary {
  name: string | null;
  vendor: string;
  capid?: string;
  version?: string;
  revision: number;
  issuer: string;
  subject: string;
  targets: Record<string, { sha256: string; size?: number }>;
  format?: string;
}

/** The config blob: the summary, the signed claims JWT (to re-check without the archive) and the archive's digest. */
export interface ArchiveConfig extends ArchiveSummary {
  schema: typeof SUMMARY_SCHEMA;
  claimsJwt: string;
  archive: { digest: string; size: number };
}

export const SUMMARY_SCHEMA = 'gantry.dev/provider-archive-summary/v1';

const TARGET_NAME = /^[a-z0-9_]+-[a-z0-9_]+$/;

export function summaryOf(v: VerifiedPar): ArchiveSummary {
  const c = v.claims;
  const targets: ArchiveSummary['targets'] = {};
  for (const [name, t] of Object.entries(v.targets) as Array<[string, { sha256: string; size: number }]>) {
    if (TARGET_NAME.test(name)) targets[name] = { sha256: t.sha256.toLowerCase(), size: t.size };
  }
  const out: ArchiveSummary = {
    name: c.name ?? null,
    vendor: c.vendor,
    revision: c.revision,
    issuer: c.issuer,
    subject: c.subject,
    targets,
    format: v.format,
  };
  if (c.capid !== undefined) out.capid = c.capid;
  if (c.version !== undefined) out.version = c.version;
  return out;
}

/** The summary of claims read without the archive (a wasmCloud layer's leading claims): sizes unknown. */
export function summaryOfClaims(c: ProviderClaims, format?: string): ArchiveSummary {
  const targets: ArchiveSummary['targets'] = {};
  for (const [name, sha256] of Object.entries(c.hashes)) if (TARGET_NAME.test(name)) targets[name] = { sha256: sha256.toLowerCase() };
  const out: ArchiveSummary = {
    name: c.name ?? null,
    vendor: c.vendor,
    revision: c.revision,
    issuer: c.issuer,
    subject: c.subject,
    targets,
    ...(format ? { format } : {}),
  };
  if (c.capid !== undefined) out.capid = c.capid;
  if (c.version !== undefined) out.version = c.version;
  return out;
}

export function configOf(v: VerifiedPar, archive: { digest: string; size: number }): ArchiveConfig {
  return { schema: SUMMARY_SCHEMA, ...summaryOf(v), claimsJwt: v.jwt, archive };
}

export function parseConfig(bytes: Uint8Array, where: string): ArchiveConfig {
  let c: ArchiveConfig;
  try {
    c = JSON.parse(Buffer.from(bytes).toString('utf8')) as ArchiveConfig;
  } catch (e) {
    throw new RegistryError('BAD_MANIFEST', `${where}: config blob is not JSON (${(e as Error).message})`);
  }
  if (
    !c ||
    c.schema !== SUMMARY_SCHEMA ||
    !Number.isSafeInteger(c.revision) ||
    typeof c.issuer !== 'string' ||
    typeof c.subject !== 'string' ||
    !c.targets ||
    typeof c.targets !== 'object'
  ) {
    throw new RegistryError('BAD_MANIFEST', `${where}: config blob is not a Gantry archive summary (${SUMMARY_SCHEMA})`);
  }
  return c;
}

/**
 * The fields of a summary the claims JWT signs (docs/storage.md, "What the summary may be
 * trusted for"). A target's `size` and the archive `format` are not signed: they are checked
 * against the archive itself on pull and are not shown from a summary read without it.
 */
export const SIGNED_SUMMARY_FIELDS = ['name', 'vendor', 'capid', 'version', 'revision', 'issuer', 'subject', 'targets'] as const;
export type SignedSummaryField = (typeof SIGNED_SUMMARY_FIELDS)[number];

/**
 * The summary a config blob may be trusted for, read without the archive: its claims JWT must
 * verify (signature, well-formed claims; whether the issuer is trusted stays the reader's
 * check, as for an archive), and every signed field the stored summary carries must equal the
 * claims' — else RegistryError SUMMARY_MISMATCH naming the first field that differs, with both
 * values. Returns the summary made from the verified claims alone: what a reader shows and
 * schedules from is only ever what the signature covers (target sizes and format dropped).
 */
export function verifiedSummaryOfConfig(c: ArchiveConfig, where: string, opts: { anyTime?: boolean } = {}): ArchiveSummary {
  let claims: ProviderClaims;
  try {
    claims = verifyClaimsToken(c.claimsJwt, {});
  } catch (e) {
    // claims that verify but are out of their validity window are the archive's state, not a forgery
    if (isParError(e) && (e.code === 'PAR_EXPIRED' || e.code === 'PAR_NOT_YET_VALID')) {
      if (!opts.anyTime) throw e;
      // the signature already held (times are checked last): check it again inside its window
      claims = verifyClaimsToken(c.claimsJwt, { now: insideWindow(c.claimsJwt) });
    } else
      throw new RegistryError(
        'SUMMARY_MISMATCH',
        `${where}: the summary's claims JWT does not verify (${(e as Error).message}); the config blob was altered`,
      );
  }
  const signed = summaryOfClaims(claims);
  compareSigned(c, signed, where);
  return signed;
}

/** An instant at which claims with this `nbf`/`exp` hold. */
function insideWindow(jwt: string): Date {
  const { nbf, exp } = decodeClaimsJwt(jwt).payload as { nbf?: number; exp?: number };
  return new Date((typeof nbf === 'number' ? nbf : (exp as number) - 1) * 1000);
}

function mismatch(where: string, field: string, stored: unknown, actual: unknown, source: string): RegistryError {
  return new RegistryError(
    'SUMMARY_MISMATCH',
    `${where}: summary field "${field}" says ${JSON.stringify(stored)} but ${source} say${source.endsWith('s') ? '' : 's'} ${JSON.stringify(actual)}; the config blob was altered`,
  );
}

/** Every signed field of `stored` against `signed`, in SIGNED_SUMMARY_FIELDS order; throws on the first that differs. */
function compareSigned(stored: ArchiveSummary, signed: ArchiveSummary, where: string, source = 'the signed claims'): void {
  for (const field of SIGNED_SUMMARY_FIELDS) {
    if (field === 'targets') continue;
    const a = stored[field] ?? (field === 'name' ? null : undefined);
    const b = signed[field] ?? (field === 'name' ? null : undefined);
    if (a !== b) throw mismatch(where, field, a, b, source);
  }
  const storedTargets = Object.keys(stored.targets).sort();
  const signedTargets = Object.keys(signed.targets).sort();
  if (storedTargets.join(',') !== signedTargets.join(',')) throw mismatch(where, 'targets', storedTargets, signedTargets, source);
  for (const t of signedTargets) {
    const a = String(stored.targets[t]?.sha256 ?? '').toLowerCase();
    if (a !== signed.targets[t].sha256)
      throw mismatch(where, 'targets', `${t} sha256 ${a}`, `${t} sha256 ${signed.targets[t].sha256}`, source);
  }
}

/**
 * On pull, with the archive verified in hand: every signed field of the stored config against
 * the archive's claims, then what the signature does not cover against the archive itself —
 * each target's size against its binary, the format against the archive's real one, the
 * claims JWT and archive digest the config names. Throws SUMMARY_MISMATCH naming the field.
 */
export function checkSummaryAgainst(c: ArchiveConfig, verified: VerifiedPar, archiveDigest: string, where: string): void {
  const actual = summaryOf(verified);
  compareSigned(c, actual, where, 'the signed archive');
  for (const t of Object.keys(actual.targets)) {
    const size = c.targets[t].size;
    if (size !== undefined && size !== actual.targets[t].size)
      throw mismatch(where, 'targets', `${t} size ${size}`, `${t} size ${actual.targets[t].size}`, 'the archive');
  }
  if (c.format !== undefined && c.format !== actual.format) throw mismatch(where, 'format', c.format, actual.format, 'the archive');
  if (c.claimsJwt !== verified.jwt)
    throw mismatch(where, 'claimsJwt', abbreviate(c.claimsJwt), abbreviate(verified.jwt), "the archive's claims.jwt");
  if (c.archive?.digest !== archiveDigest) throw mismatch(where, 'archive', c.archive?.digest, archiveDigest, 'the archive layer');
}

function abbreviate(jwt: unknown): unknown {
  return typeof jwt === 'string' && jwt.length > 40 ? `${jwt.slice(0, 20)}…${jwt.slice(-12)}` : jwt;
}
