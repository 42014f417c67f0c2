/**
 * Who holds a NATS user key — the grant reconciler's one question before it issues or revokes.
 * Revocation is per key and account-wide, so a grant may name only a key nobody else holds:
 *   - a provider host's key (any ProviderInstance's status.hostKey) is never a grantee's;
 *   - among the grants naming a key, the namespace that claimed it first holds it: a grant
 *     that has been issued (status.userJwt) before one that has not, then the earliest
 *     creationTimestamp, then namespace/name. Issued first, because creationTimestamp has
 *     one-second resolution: a grant created in the same second under an earlier-sorting
 *     namespace must not take the key from one already issued.
 * Grants of the holding namespace share the key; any other grant naming it is KeyInUse, is
 * never issued and so revokes nothing. Pure: the reconciler passes what its informers hold.
 */

/** A grant as the claim order sees it. */
export interface KeyClaim {
  namespace: string;
  name: string;
  nkey: string;
  /** RFC 3339 (metadata.creationTimestamp); a claim without one sorts last. */
  createdAt?: string;
  /** status.userJwt is set. */
  issued: boolean;
}

/** Why a grant may not use its key: a host holds it, or another namespace's grant does. */
export type KeyConflict = 'HostKey' | 'OtherNamespace';

const created = (c: KeyClaim) => {
  const t = c.createdAt ? Date.parse(c.createdAt) : Number.NaN;
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
};

/** The claim order: negative when `a` claimed the key before `b`. */
export function claimOrder(a: KeyClaim, b: KeyClaim): number {
  if (a.issued !== b.issued) return a.issued ? -1 : 1;
  const ta = created(a);
  const tb = created(b);
  // Stryker disable next-line EqualityOperator: ta !== tb here, so < and <= agree
  if (ta !== tb) return ta < tb ? -1 : 1;
  // Stryker disable next-line EqualityOperator: the namespaces differ here, so < and <= agree
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Whether `grant` may use its key, given every grant the controller knows (it may be among
 * them) and every host key: undefined when it may, else who holds the key.
 */
export function keyConflict(grant: KeyClaim, grants: Iterable<KeyClaim>, hostKeys: ReadonlySet<string>): KeyConflict | undefined {
  if (hostKeys.has(grant.nkey)) return 'HostKey';
  let first = grant;
  // Stryker disable next-line EqualityOperator: a tie is the same namespace and name, so taking it changes nothing
  for (const g of grants) if (g.nkey === grant.nkey && claimOrder(g, first) < 0) first = g;
  return first.namespace === grant.namespace ? undefined : 'OtherNamespace';
}
