/**
 * How long a grant's JWT lives and when the controller renews it. Every grant JWT carries
 * `exp` — the grant's own end (spec.expires) or iat + the lifetime (`--grant-jwt-lifetime`,
 * default 24 h), whichever comes first — so a JWT the controller lost track of (a key it can
 * no longer revoke, a revocation list a server lost) stops working by itself. While less than a
 * third of the lifetime remains the controller re-mints it for the same key; the grantee
 * fetches fresh creds (`gantry grant creds`) before the old ones' exp.
 */

export const DEFAULT_GRANT_JWT_LIFETIME_MS = 24 * 3600_000;

/** `exp` (seconds) of a JWT issued at `iatSec` for a grant ending at `expiresAtMs` (if it does). */
export function grantJwtExp(iatSec: number, lifetimeMs: number, expiresAtMs?: number): number {
  const byLifetime = iatSec + Math.floor(lifetimeMs / 1000);
  return expiresAtMs === undefined ? byLifetime : Math.min(byLifetime, Math.floor(expiresAtMs / 1000));
}

/**
 * When (ms since the epoch) a JWT ending at `expSec` is re-minted: once less than a third of
 * the lifetime remains. Undefined when it ends with the grant (expiry, not renewal, is due
 * then). A JWT without `exp` predates lifetimes: due now (and the caller revokes it).
 */
export function renewalDueAt(expSec: number | undefined, lifetimeMs: number, expiresAtMs?: number): number | undefined {
  if (expSec === undefined) return 0;
  // Stryker disable next-line ConditionalExpression: without expiresAtMs the comparison is with NaN, false either way
  if (expiresAtMs !== undefined && expSec >= Math.floor(expiresAtMs / 1000)) return undefined;
  return expSec * 1000 - Math.floor(lifetimeMs / 3);
}
