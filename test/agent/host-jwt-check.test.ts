/** Which host JWT the agent puts in a creds file (agent/host-jwt-check.ts): unit tests, no servers. */
import { createAccount, createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { hostCreds, hostJwtProblem } from '../../agent/host-jwt-check.js';
import { encodeJwt } from '../../membrane/jwt.js';

const account = createAccount();
const A = account.getPublicKey();
const K = createUser().getPublicKey();
const jwt = (o: { sub?: string; exp?: number; type?: 'user' | 'account'; by?: ReturnType<typeof createAccount> } = {}) =>
  encodeJwt(o.by ?? account, { sub: o.sub ?? K, iat: 100, exp: o.exp ?? 200, nats: { type: o.type ?? 'user' } });

describe('hostJwtProblem', () => {
  it('takes a user JWT for this key, by the account, unexpired', () => {
    expect(hostJwtProblem(jwt(), K, A, 150)).toBeUndefined();
    expect(hostJwtProblem(jwt(), K, undefined, 150)).toBeUndefined();
  });
  it('refuses each thing that is wrong, saying which', () => {
    expect(hostJwtProblem(undefined, K, A, 150)).toBe(`no host JWT yet for key ${K}`);
    expect(hostJwtProblem(jwt({ sub: createUser().getPublicKey() }), K, A, 150)).toMatch(/not this node's key/);
    expect(hostJwtProblem(jwt({ by: createAccount() }), K, A, 150)).toMatch(/, not A/);
    expect(hostJwtProblem(jwt({ type: 'account' }), K, A, 150)).toBe('the host JWT is a account JWT, not a user JWT');
    expect(hostJwtProblem(jwt({ exp: 150 }), K, A, 150)).toBe(`the host JWT for ${K} expired at 150`);
    expect(hostJwtProblem(jwt({ exp: 151 }), K, A, 150)).toBeUndefined();
    const [h, p] = jwt().split('.');
    expect(hostJwtProblem(`${h}.${p}.AAAA`, K, A, 150)).toMatch(/not signed by its issuer/);
  });
});

describe('hostCreds', () => {
  it('is a creds file the NATS client reads: the JWT block, then the seed block', () => {
    const seed = new TextDecoder().decode(createUser().getSeed());
    const text = hostCreds(jwt(), seed);
    expect(text).toMatch(new RegExp(`^-----BEGIN NATS USER JWT-----\\n${jwt().split('.')[0]}`));
    expect(text).toContain(`-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------`);
    expect(text).toContain('------END NATS USER JWT------');
  });
});
