/** Which host JWT the agent puts in a creds file (agent/host-jwt-check.ts): unit tests, no servers. */
import { createAccount, createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { hostJwtProblem } from '../../agent/host-jwt-check.js';
import { encodeJwt } from '../../client/jwt.js';

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
    const [h, p, sig] = jwt().split('.');
    expect(hostJwtProblem(`${h}.${p}.AAAA`, K, A, 150)).toMatch(/not signed by its issuer/);
    expect(hostJwtProblem(`  ${jwt()}\n`, K, A, 150)).toBeUndefined();
    const notAJwt = 'not a JWT (expected three dot-separated parts)';
    for (const bad of [`${h}.${p}`, `${h}.${p}.${sig}.x`]) expect(hostJwtProblem(bad, K, A, 150)).toBe(notAJwt);
    for (const bad of [`.${p}.${sig}`, `${h}..${sig}`, `${h}.%%%.${sig}`])
      expect(hostJwtProblem(bad, K, A, 150)).toMatch(/^cannot decode the JWT: /);
    expect(hostJwtProblem(`${h}.${p}.`, K, A, 150)).toMatch(/not signed by its issuer/);
    // an issuer that is no public key at all: not signed by it
    const forged = Buffer.from(JSON.stringify({ iss: 'nobody', sub: K, nats: { type: 'user', version: 2 } })).toString('base64url');
    expect(hostJwtProblem(`${h}.${forged}.${sig}`, K, undefined, 150)).toBe(`the JWT for ${K} is not signed by its issuer nobody`);
    const noVersion = Buffer.from(JSON.stringify({ iss: A, sub: K, nats: { type: 'user' } })).toString('base64url');
    expect(hostJwtProblem(`${h}.${noVersion}.${sig}`, K, A, 150)).toBe('the JWT lacks iss, sub or nats claims (version 2)');
    expect(hostJwtProblem(encodeJwt(account, { sub: K, iat: 1, nats: {} as { type: 'user' } }), K, A, 150)).toBe(
      'the host JWT is a undefined JWT, not a user JWT',
    );
  });
});
