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
import { parseConfigMapRef, parseTrustPolicy, TrustPolicyError } from '../../api/trust-policy.js';

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

describe('parseTrustPolicy: the gantry-trust ConfigMap read strictly', () => {
  const K1 = `A${'B'.repeat(55)}`;
  const K2 = `A${'C'.repeat(55)}`;
  const where = 'ConfigMap gantry-system/gantry-trust';
  const parse = (data?: Record<string, string>, binaryData?: Record<string, string>) => parseTrustPolicy({ data, binaryData }, where);
  const refused = (data?: Record<string, string>, binaryData?: Record<string, string>) => {
    try {
      parse(data, binaryData);
    } catch (err) {
      expect(err).toBeInstanceOf(TrustPolicyError);
      expect((err as TrustPolicyError).code).toBe('TRUST_POLICY_INVALID');
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('reads every key: comma or whitespace separated, blanks and repeats dropped, as the shell in deploy/ split them', () => {
    expect(
      parse({
        'trusted-issuers': ` ${K1},\n${K2} , ${K1},`,
        'plain-http-registries': 'reg.local:5000, [::1]:5001',
        'log-keys': 'registry.example.com/team/=k+1+x',
        'require-log': 'true',
      }),
    ).toEqual({
      trustedIssuers: [K1, K2],
      plainHttpRegistries: ['reg.local:5000', '[::1]:5001'],
      logKeys: ['registry.example.com/team/=k+1+x'],
      requireLog: true,
    });
  });

  it('an empty or absent policy is valid and trusts nothing (deploy/base ships it so)', () => {
    const empty = { trustedIssuers: [], plainHttpRegistries: [], logKeys: [], requireLog: false };
    expect(parse()).toEqual(empty);
    expect(parse({ 'trusted-issuers': '', 'plain-http-registries': '', 'log-keys': '', 'require-log': 'false' })).toEqual(empty);
  });

  it('one malformed entry refuses the whole update: the valid key beside it is not taken either', () => {
    const msg = refused({ 'trusted-issuers': `${K1},${K2}x` });
    expect(msg).toBe(
      `${where}: trusted-issuers entry 2 "${K2}x" is not an account public key (A followed by 55 base32 characters); the last valid trust policy stays in force`,
    );
    expect(refused({ 'trusted-issuers': `${K1};${K2}` })).toContain('entry 1');
    expect(refused({ 'trusted-issuers': `U${'B'.repeat(55)}` })).toContain('is not an account public key');
  });

  it('a seed pasted in is refused without writing it into the message', () => {
    const seed = `SAA${'D'.repeat(55)}`;
    const msg = refused({ 'trusted-issuers': `${K1}, ${seed}` });
    expect(msg).toBe(
      `${where}: trusted-issuers entry 2 is a seed (S…), not a public key: never put a seed here, and rotate it; the last valid trust policy stays in force`,
    );
    expect(msg).not.toContain('DDDD');
  });

  it('a long malformed entry is quoted cut to 64 characters', () => {
    const msg = refused({ 'trusted-issuers': 'x'.repeat(100) });
    expect(msg).toContain(`"${'x'.repeat(64)}"`);
    expect(msg).not.toContain('x'.repeat(65));
  });

  it('an unknown or misspelled key (one that could carry an issuer past a reader) is refused, naming it and the known keys', () => {
    expect(refused({ 'trusted-issuers': K1, 'Trusted-Issuers': K2 })).toBe(
      `${where}: unknown key "Trusted-Issuers" (the keys are trusted-issuers, plain-http-registries, log-keys, require-log); the last valid trust policy stays in force`,
    );
    expect(refused({ trusted_issuers: K2, 'trusted-issuer': K2 })).toContain('unknown keys "trusted_issuers", "trusted-issuer"');
  });

  it('binaryData is never read as trust: any member is refused', () => {
    expect(refused({ 'trusted-issuers': K1 }, { 'trusted-issuers': Buffer.from(K2).toString('base64') })).toBe(
      `${where}: binaryData (trusted-issuers) is not read; trust policy keys belong under data; the last valid trust policy stays in force`,
    );
    expect(parse({ 'trusted-issuers': K1 }, {}).trustedIssuers).toEqual([K1]);
    expect(refused({}, { a: 'eA==', b: 'eA==' })).toContain('binaryData (a, b) is not read');
  });

  it('require-log is true, false or empty; plain-http-registries are HOST:PORT', () => {
    expect(refused({ 'require-log': 'yes' })).toContain('require-log is "yes", expected "true" or "false"');
    expect(parse({ 'require-log': ' true ' }).requireLog).toBe(true);
    expect(parse({ 'require-log': 'false' }).requireLog).toBe(false);
    expect(refused({ 'plain-http-registries': 'http://reg.local:5000' })).toContain(
      'plain-http-registries entry "http://reg.local:5000" is not HOST:PORT',
    );
    expect(refused({ 'plain-http-registries': 'reg.local' })).toContain('is not HOST:PORT');
    for (const bad of ['reg.local:5000/x', 'x[::1]:5000', '[::1]:5000/x'])
      expect(refused({ 'plain-http-registries': bad }), bad).toContain('is not HOST:PORT');
    // what is quoted back is cut to 64 characters
    expect(refused({ 'plain-http-registries': 'r'.repeat(100) })).toContain(`entry "${'r'.repeat(64)}" is not`);
    expect(refused({ 'require-log': 'y'.repeat(100) })).toContain(`require-log is "${'y'.repeat(64)}", expected`);
  });
});

describe('parseConfigMapRef (--trust-configmap)', () => {
  it('NAMESPACE/NAME → its parts', () => {
    expect(parseConfigMapRef('gantry-system/gantry-trust', '--trust-configmap')).toEqual({
      namespace: 'gantry-system',
      name: 'gantry-trust',
    });
    expect(parseConfigMapRef('a/b.c', '--trust-configmap')).toEqual({ namespace: 'a', name: 'b.c' });
    expect(parseConfigMapRef('a/b', '--trust-configmap')).toEqual({ namespace: 'a', name: 'b' });
  });

  it.each(['gantry-trust', '/gantry-trust', 'ns/', 'ns/a/b', 'NS/x', 'ns/x.', ' ns/x'])(
    '%j is a usage error (exit 2) naming the flag',
    (v) => {
      let err: (Error & { exitCode?: number }) | undefined;
      try {
        parseConfigMapRef(v, '--trust-configmap');
      } catch (e) {
        err = e as Error & { exitCode?: number };
      }
      expect(err?.message).toBe(`--trust-configmap ${JSON.stringify(v)}: expected NAMESPACE/NAME of a ConfigMap`);
      expect(err?.exitCode).toBe(2);
    },
  );
});
