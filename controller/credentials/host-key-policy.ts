/**
 * Which node-made host keys the controller signs, and when a host JWT needs signing again —
 * the decisions of credentials/host.ts, kept free of I/O so they are unit-tested (and mutated).
 *
 * A node writes its instance's public key (status.hostKey); the controller mints a short-lived
 * JWT for it. It refuses a key that a CapabilityGrant names (a grantee holding that seed would
 * gain a host's rights) or that another live instance already holds (a node that copies another
 * instance's key gets nothing: the first instance the controller signed it for keeps it).
 */
import type { NatsClaims } from '../../client/jwt.js';

/** Why the controller will not sign `key` for instance `uid`, or undefined when it may. */
export function hostKeyRefusal(
  key: string,
  uid: string,
  o: {
    /** host key → uid of the instance it was signed for */
    owners: ReadonlyMap<string, string>;
    /** whether an instance uid is still live (an owner that is gone frees its key) */
    live: (uid: string) => boolean;
    /** grantee key → `namespace/name` of a CapabilityGrant naming it */
    grantKeys: ReadonlyMap<string, string>;
  },
): string | undefined {
  const grant = o.grantKeys.get(key);
  if (grant !== undefined) return `host key ${key} is the key of CapabilityGrant ${grant}; a host needs a key of its own`;
  const owner = o.owners.get(key);
  if (owner !== undefined && owner !== uid && o.live(owner))
    return `host key ${key} already belongs to another instance (uid ${owner}); a host needs a key made on its own node`;
  return undefined;
}

/**
 * When the host JWT with these claims should be replaced, in ms since the epoch: once a third
 * of its lifetime remains (so a renewal has two thirds of a lifetime to land), or at once when
 * it is for another key, by another issuer, without exp, or revoked (iat at or before the
 * key's cut-off).
 */
export function renewAtMs(
  claims: NatsClaims | undefined,
  want: { key: string; issuer: string; lifetimeMs: number; cutoff?: number },
): number {
  if (!claims || claims.sub !== want.key || claims.iss !== want.issuer || typeof claims.exp !== 'number') return 0;
  // Stryker disable next-line ConditionalExpression: with no cut-off, `iat <= undefined` is false too (the check says why)
  if (want.cutoff !== undefined && (claims.iat ?? 0) <= want.cutoff) return 0;
  return claims.exp * 1000 - Math.floor(want.lifetimeMs / 3);
}
