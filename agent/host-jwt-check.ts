/**
 * Whether a host JWT the controller wrote into an instance's status is one the agent will put
 * in its host's creds file: for exactly the key this node made (sub), signed by its issuer,
 * by the gantry account when the agent was told which (`--membrane-account`), and not expired.
 * Anything else is not written: the host keeps what it has and the instance keeps waiting.
 */
import { fromPublic } from '@nats-io/nkeys';

interface HostClaims {
  iss?: unknown;
  sub?: unknown;
  exp?: unknown;
  nats?: { type?: unknown };
}

/** The claims of a JWT signed (ed25519 nkey) by its `iss`; the agent may not load membrane/, so this is the check it needs of membrane/jwt.ts verifyJwt. */
function verifiedClaims(jwt: string): HostClaims {
  const [h, p, sig, extra] = jwt.trim().split('.');
  if (!h || !p || !sig || extra !== undefined) throw new Error('the host JWT is not a JWT (expected three dot-separated parts)');
  let claims: HostClaims;
  try {
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  } catch (e) {
    throw new Error(`cannot decode the host JWT: ${(e as Error).message}`);
  }
  let ok = false;
  try {
    ok = fromPublic(String(claims.iss)).verify(new TextEncoder().encode(`${h}.${p}`), Buffer.from(sig, 'base64url'));
  } catch {
    // Stryker disable next-line BooleanLiteral: ok is still false here (fromPublic threw before assigning it)
    ok = false;
  }
  if (!ok) throw new Error(`the JWT for ${String(claims.sub)} is not signed by its issuer ${String(claims.iss)}`);
  return claims;
}

/** The .creds file of a user JWT and its seed (the format of membrane/creds.ts formatCreds). */
export function hostCreds(jwt: string, seed: string): string {
  return `-----BEGIN NATS USER JWT-----\n${jwt.trim()}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed.trim()}\n------END USER NKEY SEED------\n`;
}

/** What is wrong with `jwt` as the host JWT for `hostKey`, or undefined when nothing is. */
export function hostJwtProblem(jwt: string | undefined, hostKey: string, account: string | undefined, nowSec: number): string | undefined {
  if (!jwt) return `no host JWT yet for key ${hostKey}`;
  let claims: HostClaims;
  try {
    claims = verifiedClaims(jwt);
  } catch (e) {
    return (e as Error).message;
  }
  if (account && claims.iss !== account) return `the JWT for ${String(claims.sub)} is issued by ${String(claims.iss)}, not ${account}`;
  if (claims.sub !== hostKey) return `the host JWT is for ${String(claims.sub)}, not this node's key ${hostKey}`;
  if (claims.nats?.type !== 'user') return `the host JWT is a ${String(claims.nats?.type)} JWT, not a user JWT`;
  // Stryker disable next-line ConditionalExpression: without exp, `undefined <= nowSec` is false too (the check says why)
  if (typeof claims.exp === 'number' && claims.exp <= nowSec) return `the host JWT for ${hostKey} expired at ${claims.exp}`;
  return undefined;
}
