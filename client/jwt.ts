/**
 * NATS JWT v2: the signed tokens nats-server trusts (operator → account → user). A token is
 * `base64url(header).base64url(claims).base64url(ed25519 signature)`, the header always
 * {"typ":"JWT","alg":"ed25519-nkey"}, signed by the issuer's nkey (`iss`), about the subject's
 * public key (`sub`). The nats-specific claims sit under `nats` with `type` and `version: 2`.
 * @nats-io/jwt is not a dependency: the format is this small.
 *
 *   const jwt = encodeJwt(accountKp, { sub: userKey, name: 'alice', nats: { type: 'user', pub: { allow: ['x'] } } });
 *   const claims = verifyJwt(jwt); // throws MembraneError JWT_INVALID on a bad signature
 */
import { createHash, randomBytes } from 'node:crypto';
import { fromPublic, type KeyPair } from '@nats-io/nkeys';
import { MembraneError } from './membrane-errors.js';

export interface NatsClaims {
  jti: string;
  iat: number;
  iss: string;
  sub: string;
  name?: string;
  exp?: number;
  nats: { type: 'operator' | 'account' | 'user'; version: 2; [k: string]: unknown };
}

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const HEADER = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));

export interface JwtInput {
  sub: string;
  name?: string;
  /** Seconds since the epoch; absent = never expires. */
  exp?: number;
  /** Seconds since the epoch; default now. */
  iat?: number;
  nats: Record<string, unknown> & { type: 'operator' | 'account' | 'user' };
}

/** Encode and sign one JWT with the issuer's key pair. */
export function encodeJwt(issuer: KeyPair, c: JwtInput): string {
  const claims: Record<string, unknown> = {
    jti: '',
    iat: c.iat ?? Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name: c.name ?? c.sub,
    sub: c.sub,
    ...(c.exp !== undefined ? { exp: c.exp } : {}),
    nats: { ...c.nats, version: 2 },
  };
  // The jti is a hash of the claims (as the Go library does), salted so two identical mints differ.
  claims.jti = createHash('sha256').update(JSON.stringify(claims)).update(randomBytes(8)).digest('base64url').slice(0, 52).toUpperCase();
  const head = `${HEADER}.${b64url(JSON.stringify(claims))}`;
  return `${head}.${b64url(issuer.sign(new TextEncoder().encode(head)))}`;
}

/** Decode a JWT's claims without checking the signature (for display, or before verifyJwt). */
export function decodeJwt(jwt: string): NatsClaims {
  const parts = jwt.trim().split('.');
  if (parts.length !== 3) throw new MembraneError('JWT_INVALID', 'not a JWT (expected three dot-separated parts)');
  let claims: NatsClaims;
  try {
    const head = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    if (head.alg !== 'ed25519-nkey' && head.alg !== 'ed25519') throw new Error(`unsupported alg ${head.alg}`);
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch (e) {
    throw new MembraneError('JWT_INVALID', `cannot decode the JWT: ${(e as Error).message}`);
  }
  if (!claims || typeof claims.iss !== 'string' || typeof claims.sub !== 'string' || !claims.nats || claims.nats.version !== 2) {
    throw new MembraneError('JWT_INVALID', 'the JWT lacks iss, sub or nats claims (version 2)');
  }
  return claims;
}

/** Decode and check the signature against `iss` (and, when given, that `iss` is the expected issuer). */
export function verifyJwt(jwt: string, expectedIssuer?: string): NatsClaims {
  const claims = decodeJwt(jwt);
  const [h, p, s] = jwt.trim().split('.');
  let ok = false;
  try {
    ok = fromPublic(claims.iss).verify(new TextEncoder().encode(`${h}.${p}`), Buffer.from(s, 'base64url'));
  } catch {
    ok = false;
  }
  if (!ok) throw new MembraneError('JWT_INVALID', `the JWT for ${claims.sub} is not signed by its issuer ${claims.iss}`);
  if (expectedIssuer && claims.iss !== expectedIssuer) {
    throw new MembraneError('JWT_INVALID', `the JWT for ${claims.sub} is issued by ${claims.iss}, not ${expectedIssuer}`);
  }
  return claims;
}
