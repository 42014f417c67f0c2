/**
 * Trust narrowing (api/trust.ts) on its own: the cluster policy is the only source of trusted
 * issuers, a resource can only narrow it, a key outside it refuses the resource as a whole, and
 * an empty policy trusts nothing. The controller and the agent both decide through these two
 * functions; the end-to-end cases are in test/controller/trust.test.ts and test/agent/.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { narrowTrust, trustProblem, TRUST_POLICY_HINT } from '../../api/trust.js';

const A = 'AAAPOLICYONE';
const B = 'AAAPOLICYTWO';
const X = 'AAAATTACKER';
const Y = 'AAAATTACKERTOO';

describe('narrowTrust', () => {
  it('without a narrowing (absent or empty) is the cluster policy, duplicates dropped', () => {
    expect(narrowTrust([A, B, A])).toEqual({ trusted: [A, B], notInPolicy: [] });
    expect(narrowTrust([A, B], [])).toEqual({ trusted: [A, B], notInPolicy: [] });
  });

  it('narrows to the intersection, and names every key the policy does not hold, once', () => {
    expect(narrowTrust([A, B], [B])).toEqual({ trusted: [B], notInPolicy: [] });
    expect(narrowTrust([A, B], [B, X, X, A])).toEqual({ trusted: [B, A], notInPolicy: [X] });
    expect(narrowTrust([A], [X])).toEqual({ trusted: [], notInPolicy: [X] });
  });

  it('an empty policy trusts nothing, whatever a resource names', () => {
    expect(narrowTrust([], [A])).toEqual({ trusted: [], notInPolicy: [A] });
    expect(narrowTrust([])).toEqual({ trusted: [], notInPolicy: [] });
  });
});

describe('trustProblem', () => {
  it('is undefined when the trust in force is usable', () => {
    expect(trustProblem(narrowTrust([A, B], [A]), [A, B], 'spec.trust.issuers')).toBeUndefined();
    expect(trustProblem(narrowTrust([A]), [A], 'spec.trust.issuers')).toBeUndefined();
  });

  it('an empty cluster policy: says so and what to do, before anything else', () => {
    expect(trustProblem(narrowTrust([], [X]), [], 'spec.trust.issuers')).toBe(
      `no trusted issuers: ${TRUST_POLICY_HINT} is empty, so nothing is trusted; add the publisher's account key there`,
    );
  });

  it('a key outside the policy refuses the resource as a whole, even beside a trusted key (singular and plural)', () => {
    expect(trustProblem(narrowTrust([A], [A, X]), [A], 'spec.trust.issuers')).toBe(
      `spec.trust.issuers names issuer ${X} that is not in ${TRUST_POLICY_HINT}; a resource can only narrow the trusted issuers, never add one`,
    );
    expect(trustProblem(narrowTrust([A], [X, Y]), [A], 'spec.issuers')).toBe(
      `spec.issuers names issuers ${X}, ${Y} that are not in ${TRUST_POLICY_HINT}; a resource can only narrow the trusted issuers, never add one`,
    );
  });

  it('nothing left after narrowing is a problem too', () => {
    expect(trustProblem({ trusted: [], notInPolicy: [] }, [A], 'spec.issuers')).toBe(
      `spec.issuers trusts no issuer that ${TRUST_POLICY_HINT} trusts`,
    );
  });
});

describe('the trust refusals say where to act', () => {
  it('the hint names the ConfigMap deploy/ ships and the flag the controller and agents take', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const configMap = /^\s+name: (\S+)/m.exec(readFileSync(join(root, 'deploy/base/trust-policy.yaml'), 'utf8'))?.[1];
    expect(configMap).toBe('gantry-trust');
    expect(TRUST_POLICY_HINT).toContain(`the ${configMap} ConfigMap in deploy/`);
    expect(TRUST_POLICY_HINT).toContain('--trust-issuer');
  });
});
