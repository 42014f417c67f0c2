/**
 * The claims token: a compact JWS with header exactly `{"typ":"jwt","alg":"Ed25519"}`,
 * base64url without padding, signed with Ed25519 by the issuer's nkey. Verification always
 * runs over the original segment text (upstream's hash maps have no stable key order, so
 * re-serialising would break signatures). Ed25519 is deterministic: signing the same claims
 * string with the same seed reproduces the token byte for byte.
 *
 * These helpers know nothing of archives; the registry and the agent reuse them for any
 * wascap token (provider or actor).
 *
 *   const jwt = signClaims(JSON.stringify(claims), issuerSeed);
 *   const { payload } = verifyClaimsJwt(jwt); // throws ParError on any defect
 */
import { ParError } from './errors.js';
import { keyTypeOf, signWithSeed, verifyWithPublicKey } from './nkeys.js';
import { DEFAULT_PAR_LIMITS, formatBytes } from './limits.js';

export const JWT_HEADER = '{"typ":"jwt","alg":"Ed25519"}';
export const JWT_HEADER_B64 = Buffer.from(JWT_HEADER).toString('base64url');

export interface DecodedClaimsJwt {
  jwt: string;
  header: Record<string, unknown>;
  /** the payload object, parsed from the original text */
  payload: Record<string, unknown>;
  /** the payload exactly as signed */
  payloadJson: string;
  signingInput: string;
  signature: Uint8Array;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function b64urlDecode(segment: string, what: string): Buffer {
  if (!B64URL.test(segment)) {
    throw new ParError('PAR_BAD_JWT', `claims token ${what} is not base64url without padding`);
  }
  if (segment.length % 4 === 1) throw new ParError('PAR_BAD_JWT', `claims token ${what} has an impossible base64url length`);
  return Buffer.from(segment, 'base64url');
}

/** Signs a claims JSON string (kept verbatim as the payload) with an nkey seed. */
export function signClaims(claimsJson: string, seed: string): string {
  const payload = Buffer.from(claimsJson, 'utf8').toString('base64url');
  const signingInput = `${JWT_HEADER_B64}.${payload}`;
  const signature = signWithSeed(seed, Buffer.from(signingInput, 'ascii'));
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`;
}

/**
 * Splits and parses a claims token without checking the signature. Refuses anything that is not
 * a well-formed compact JWS with the one header wascap writes (PAR_BAD_ALGORITHM for `none`,
 * HS256, EdDSA and the like); `{ allowAnyHeader: true }` lets inspection show such a token.
 */
export function decodeClaimsJwt(jwt: string, opts: { maxBytes?: number; allowAnyHeader?: boolean } = {}): DecodedClaimsJwt {
  const maxBytes = opts.maxBytes ?? DEFAULT_PAR_LIMITS.maxJwtBytes;
  if (typeof jwt !== 'string') throw new ParError('PAR_BAD_JWT', 'claims token is not text');
  if (jwt.length > maxBytes)
    throw new ParError('PAR_TOO_LARGE', `claims token is ${formatBytes(jwt.length)}, over the ${formatBytes(maxBytes)} limit`);
  const text = jwt.trim();
  const parts = text.split('.');
  if (parts.length !== 3) throw new ParError('PAR_BAD_JWT', `claims token has ${parts.length} dot-separated parts, expected 3`);
  const [h, p, s] = parts;
  let header: unknown;
  try {
    header = JSON.parse(b64urlDecode(h, 'header').toString('utf8'));
  } catch (err) {
    if (err instanceof ParError) throw err;
    throw new ParError('PAR_BAD_JWT', 'claims token header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header))
    throw new ParError('PAR_BAD_JWT', 'claims token header is not a JSON object');
  const hdr = header as Record<string, unknown>;
  if (!opts.allowAnyHeader) assertClaimsHeader(hdr);
  const payloadJson = b64urlDecode(p, 'payload').toString('utf8');
  let payload: unknown;
  try {
    payload = JSON.parse(payloadJson);
  } catch {
    throw new ParError('PAR_BAD_JWT', 'claims token payload is not JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new ParError('PAR_BAD_JWT', 'claims token payload is not a JSON object');
  }
  const signature = new Uint8Array(b64urlDecode(s, 'signature'));
  return { jwt: text, header: hdr, payload: payload as Record<string, unknown>, payloadJson, signingInput: `${h}.${p}`, signature };
}

/** The one header wascap writes; anything else (`none`, HS256, EdDSA, extra fields) is PAR_BAD_ALGORITHM. */
export function assertClaimsHeader(hdr: Record<string, unknown>): void {
  const keys = Object.keys(hdr).sort().join(',');
  if (hdr.alg !== 'Ed25519' || hdr.typ !== 'jwt' || keys !== 'alg,typ') {
    throw new ParError(
      'PAR_BAD_ALGORITHM',
      `claims token header is ${JSON.stringify(hdr)}; only ${JWT_HEADER} is accepted (alg ${JSON.stringify(hdr.alg)} refused)`,
    );
  }
}

/** True when the token's signature verifies against its own `iss` (an nkey). */
export function claimsSignatureValid(decoded: DecodedClaimsJwt): boolean {
  const iss = decoded.payload.iss;
  if (typeof iss !== 'string') return false;
  try {
    keyTypeOf(iss);
  } catch {
    return false;
  }
  if (decoded.header.alg !== 'Ed25519') return false;
  return verifyWithPublicKey(iss, Buffer.from(decoded.signingInput, 'ascii'), decoded.signature);
}

/** Decodes and checks the signature against `iss`; throws ParError (PAR_SIGNATURE_INVALID, …). */
export function verifyClaimsJwt(jwt: string, opts: { maxBytes?: number } = {}): DecodedClaimsJwt {
  const decoded = decodeClaimsJwt(jwt, opts);
  const iss = decoded.payload.iss;
  if (typeof iss !== 'string') throw new ParError('PAR_BAD_CLAIMS', 'claims have no issuer (iss)');
  try {
    keyTypeOf(iss);
  } catch (err) {
    throw new ParError('PAR_BAD_ISSUER', `claims issuer ${JSON.stringify(iss)} is not a valid nkey: ${(err as Error).message}`);
  }
  if (decoded.signature.length !== 64 || !claimsSignatureValid(decoded)) {
    throw new ParError(
      'PAR_SIGNATURE_INVALID',
      `claims signature does not verify against issuer ${iss}; the archive was altered after signing or signed by another key`,
    );
  }
  return decoded;
}
