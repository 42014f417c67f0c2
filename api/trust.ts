/**
 * Trust is cluster policy; resources can only narrow it.
 *
 * The only source of trusted issuers (account keys, A…) is the cluster's policy: the
 * controller's and agents' `--trust-issuer` flags, fed from the `gantry-trust` ConfigMap in
 * deploy/. A Provider's `spec.trust.issuers` — and a ProviderInstance's `spec.issuers`, which
 * the controller copies from it — restricts that list to the intersection; a key it names that
 * the cluster does not trust is refused, never added. An empty cluster policy trusts nothing.
 * The controller and the agent both decide through `narrowTrust`, so they cannot disagree.
 */

export interface TrustInForce {
  /** issuers an archive may be signed by: the cluster's, narrowed by the resource */
  trusted: string[];
  /** keys the resource names that the cluster policy does not trust (refused, never added) */
  notInPolicy: string[];
}

/** Where an operator configures trust, for messages that tell them what to do. */
export const TRUST_POLICY_HINT =
  'the cluster trust policy (the gantry-trust ConfigMap in deploy/, watched by the controller and agents through --trust-configmap, or their --trust-issuer flags)';

export function narrowTrust(clusterPolicy: readonly string[], narrowing?: readonly string[]): TrustInForce {
  const policy = new Set(clusterPolicy);
  if (!narrowing || narrowing.length === 0) return { trusted: [...policy], notInPolicy: [] };
  const wanted = [...new Set(narrowing)];
  return { trusted: wanted.filter((k) => policy.has(k)), notInPolicy: wanted.filter((k) => !policy.has(k)) };
}

/**
 * Why nothing can be trusted for `what`, or undefined when the trust in force is usable.
 * A resource naming a key outside the policy is refused as a whole: the author asked for a
 * signer the cluster never agreed to, and silently dropping the key could run something else.
 */
export function trustProblem(t: TrustInForce, clusterPolicy: readonly string[], what: string): string | undefined {
  if (clusterPolicy.length === 0)
    return `no trusted issuers: ${TRUST_POLICY_HINT} is empty, so nothing is trusted; add the publisher's account key there`;
  if (t.notInPolicy.length > 0) {
    return `${what} names issuer${t.notInPolicy.length > 1 ? 's' : ''} ${t.notInPolicy.join(', ')} that ${t.notInPolicy.length > 1 ? 'are' : 'is'} not in ${TRUST_POLICY_HINT}; a resource can only narrow the trusted issuers, never add one`;
  }
  if (t.trusted.length === 0) return `${what} trusts no issuer that ${TRUST_POLICY_HINT} trusts`;
  return undefined;
}
