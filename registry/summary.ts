/**
 * The claims summary kept in each archive's config blob, so a revision can be resolved —
 * name, capid, issuer, targets and their hashes — without downloading the archive. It is a
 * copy of signed facts, not a source of trust: pull verifies the archive itself and refuses
 * it when the summary disagrees with what the signature covers.
 */
import { isParError, type ProviderClaims, type VerifiedPar, verifyClaimsToken } from '../par/index.js';
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

/** Strip a config down to the summary others see. */
export function summaryFromConfig(c: ArchiveConfig): ArchiveSummary {
  const { schema: _s, claimsJwt: _j, archive: _a, ...summary } = c;
  return summary;
}

/** Refuse an archive whose signed claims differ from the summary it was resolved by. */
export function checkSummaryAgainst(summary: ArchiveSummary, verified: VerifiedPar, where: string): void {
  const actual = summaryOf(verified);
  const problems: string[] = [];
  if (summary.revision !== actual.revision) problems.push(`revision ${summary.revision} ≠ signed ${actual.revision}`);
  if (summary.issuer !== actual.issuer) problems.push(`issuer ${summary.issuer} ≠ signed ${actual.issuer}`);
  if (summary.subject !== actual.subject) problems.push(`subject ${summary.subject} ≠ signed ${actual.subject}`);
  const a = Object.keys(summary.targets).sort().join(',');
  const b = Object.keys(actual.targets).sort().join(',');
  if (a !== b) problems.push(`targets [${a}] ≠ signed [${b}]`);
  else
    for (const t of Object.keys(actual.targets))
      if (summary.targets[t].sha256.toLowerCase() !== actual.targets[t].sha256) problems.push(`hash of ${t} differs`);
  if (problems.length)
    throw new RegistryError(
      'SUMMARY_MISMATCH',
      `${where}: the stored summary does not match the signed archive (${problems.join('; ')}); the config blob was altered`,
    );
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
export function verifiedSummaryOfConfig(c: ArchiveConfig, where: string): ArchiveSummary {
  let claims: ProviderClaims;
  try {
    claims = verifyClaimsToken(c.claimsJwt, {});
  } catch (e) {
    // claims that verify but are out of their validity window are the archive's state, not a forgery
    if (isParError(e) && (e.code === 'PAR_EXPIRED' || e.code === 'PAR_NOT_YET_VALID')) throw e;
    throw new RegistryError(
      'SUMMARY_MISMATCH',
      `${where}: the summary's claims JWT does not verify (${(e as Error).message}); the config blob was altered`,
    );
  }
  const signed = summaryOfClaims(claims);
  const differs = (field: SignedSummaryField, stored: unknown, actual: unknown) =>
    new RegistryError(
      'SUMMARY_MISMATCH',
      `${where}: summary field "${field}" says ${JSON.stringify(stored)} but the signed claims say ${JSON.stringify(actual)}; the config blob was altered`,
    );
  for (const field of SIGNED_SUMMARY_FIELDS) {
    if (field === 'targets') continue;
    const stored = c[field] ?? (field === 'name' ? null : undefined);
    const actual = signed[field] ?? (field === 'name' ? null : undefined);
    if (stored !== actual) throw differs(field, stored, actual);
  }
  const storedTargets = Object.keys(c.targets).sort();
  const signedTargets = Object.keys(signed.targets).sort();
  if (storedTargets.join(',') !== signedTargets.join(',')) throw differs('targets', storedTargets, signedTargets);
  for (const t of signedTargets) {
    const stored = String(c.targets[t]?.sha256 ?? '').toLowerCase();
    if (stored !== signed.targets[t].sha256) throw differs('targets', `${t} sha256 ${stored}`, `${t} sha256 ${signed.targets[t].sha256}`);
  }
  return signed;
}
