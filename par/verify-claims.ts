/**
 * Steps 1–4 of verifying a Provider Archive (par/verify.ts lists them all), on the claims text
 * alone: the one accepted header, an Ed25519 signature that verifies against an nkey issuer,
 * an account issuer on the trust list naming a service subject, and `exp`/`nbf` at `now`.
 */
import { normalizeProviderClaims, type ProviderClaims } from './claims.js';
import { ParError } from './errors.js';
import { claimsSignatureValid, type DecodedClaimsJwt, decodeClaimsJwt } from './jwt.js';
import type { ParLimits } from './limits.js';
import { isAccountKey, isServiceKey, keyTypeOf } from './nkeys.js';

/** What signed claims are checked against. */
export interface ClaimsCheckOptions {
  /** allowed issuer account keys; undefined = any issuer, [] = none */
  trustedIssuers?: string[];
  /** the time `exp`/`nbf` are checked against (default: now) */
  now?: Date;
}

/** Claims that passed steps 1–4, with the token they were decoded from. */
export interface VerifiedClaims {
  decoded: DecodedClaimsJwt;
  claims: ProviderClaims;
}

/** Steps 1–4 on the claims text; throws ParError. */
export function verifyClaims(jwt: string, opts: ClaimsCheckOptions, limits: ParLimits): VerifiedClaims {
  const decoded = decodeClaimsJwt(jwt, { maxBytes: limits.maxJwtBytes });
  checkSigned(decoded, claimsSignatureValid(decoded));
  const claims = normalizeProviderClaims(decoded.payload);
  checkClaims(claims, opts);
  return { decoded, claims };
}

/** Steps 3–4 on signed claims: identity and times. */
export function checkClaims(claims: ProviderClaims, opts: ClaimsCheckOptions): void {
  checkIdentity(claims, opts);
  checkTimes(claims, opts.now ?? new Date());
}

/** Step 2: an nkey issuer whose signature holds; `signatureValid` is computed once by the caller. */
export function checkSigned(decoded: DecodedClaimsJwt, signatureValid: boolean): void {
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

function isNkey(key: string): boolean {
  // an empty catch returns undefined, as falsy as false (this also ignores the try block's mutant, which the issuer tests kill)
  // Stryker disable BlockStatement: as above
  try {
    keyTypeOf(key);
    return true;
  } catch {
    return false;
  }
}

// Stryker restore BlockStatement

function checkIdentity(claims: ProviderClaims, opts: ClaimsCheckOptions): void {
  if (!isAccountKey(claims.issuer)) {
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
  if (!isServiceKey(claims.subject)) {
    throw new ParError(
      'PAR_BAD_SUBJECT',
      `claims subject ${claims.subject} is not a service key (V…); a provider is named by a service key`,
    );
  }
}

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
