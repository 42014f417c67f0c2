/** How `gantry par` shows an archive: its claims as rows or JSON fields, and its targets. */
import type { ParFormat, ProviderClaims } from '../par/index.js';

export function iso(seconds: number | undefined): string {
  return seconds === undefined ? '-' : new Date(seconds * 1000).toISOString();
}

export function claimsSummary(format: ParFormat, claims: ProviderClaims): Record<string, unknown> {
  return {
    format,
    issuer: claims.issuer,
    subject: claims.subject,
    name: claims.name,
    vendor: claims.vendor,
    capid: claims.capid ?? null,
    version: claims.version ?? null,
    revision: claims.revision,
    issuedAt: claims.issuedAt,
    expires: claims.expires ?? null,
    notBefore: claims.notBefore ?? null,
    jti: claims.jti,
  };
}

export function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

export function claimRows(claims: ProviderClaims): [string, string][] {
  return [
    ['name', claims.name ?? '(none)'],
    ['vendor', claims.vendor],
    ['capid', claims.capid ?? '-'],
    ['version', claims.version ?? '-'],
    ['revision', String(claims.revision)],
    ['issuer', claims.issuer],
    ['subject', claims.subject],
    ['issued', iso(claims.issuedAt)],
    ['expires', iso(claims.expires)],
    ...(claims.notBefore !== undefined ? ([['not before', iso(claims.notBefore)]] as [string, string][]) : []),
  ];
}

export function targetRows(targets: Record<string, { sha256: string; size: number }>, mark?: (t: string) => string): string {
  const names = Object.keys(targets);
  const width = Math.max(6, ...names.map((n) => n.length));
  const lines = [`${'TARGET'.padEnd(width)}  ${'SIZE'.padStart(12)}  SHA-256`];
  for (const t of names)
    lines.push(`${t.padEnd(width)}  ${String(targets[t].size).padStart(12)}  ${targets[t].sha256}${mark ? mark(t) : ''}`);
  return lines.join('\n') + '\n';
}
