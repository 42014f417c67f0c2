/**
 * Whether a host JWT the controller wrote into an instance's status is one the agent will put
 * in its host's creds file: for exactly the key this node made (sub), signed by its issuer,
 * by the gantry account when the agent was told which (`--membrane-account`), and not expired.
 * Anything else is not written: the host keeps what it has and the instance keeps waiting.
 */
import { type NatsClaims, verifyJwt } from '../client/jwt.js';

/** What is wrong with `jwt` as the host JWT for `hostKey`, or undefined when nothing is. */
export function hostJwtProblem(jwt: string | undefined, hostKey: string, account: string | undefined, nowSec: number): string | undefined {
  if (!jwt) return `no host JWT yet for key ${hostKey}`;
  let claims: NatsClaims;
  try {
    claims = verifyJwt(jwt, account); // the signature by its iss, and iss the account when given
  } catch (e) {
    return (e as Error).message;
  }
  if (claims.sub !== hostKey) return `the host JWT is for ${String(claims.sub)}, not this node's key ${hostKey}`;
  if (claims.nats.type !== 'user') return `the host JWT is a ${String(claims.nats.type)} JWT, not a user JWT`; // verifyJwt: nats is there
  // Stryker disable next-line ConditionalExpression: without exp, `undefined <= nowSec` is false too (the check says why)
  if (typeof claims.exp === 'number' && claims.exp <= nowSec) return `the host JWT for ${hostKey} expired at ${claims.exp}`;
  return undefined;
}
