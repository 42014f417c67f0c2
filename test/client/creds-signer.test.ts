/**
 * The native creds signer (client/creds-signer.ts) answers the NATS handshake with exactly
 * what the client library's own credsAuthenticator sends (Ed25519 is deterministic): the same
 * JWT, user key and nonce signature, for many seeds and nonces; it refuses creds it cannot
 * read. The real servers' acceptance is in test/host/nats-options.test.ts (operator mode).
 */
import { createUser } from '@nats-io/nkeys';
import { credsAuthenticator } from '@nats-io/transport-node';
import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { formatCreds } from '../../client/creds.js';
import { credsSigner } from '../../client/creds-signer.js';

const fakeJwt = (sub: string) =>
  ['eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ', Buffer.from(JSON.stringify({ sub })).toString('base64url'), 'c2ln'].join('.');

it('signs every nonce exactly as the client library does', () => {
  for (let i = 0; i < 20; i++) {
    const kp = createUser();
    const text = formatCreds(fakeJwt(kp.getPublicKey()), new TextDecoder().decode(kp.getSeed()));
    const nonce = randomBytes(12 + i).toString('base64url');
    const ours = credsSigner(text, kp.getPublicKey())(nonce);
    expect(ours).toEqual(credsAuthenticator(new TextEncoder().encode(text))(nonce));
    expect(ours).toMatchObject({ nkey: kp.getPublicKey(), jwt: fakeJwt(kp.getPublicKey()) });
  }
});

it('sends no signature without a nonce', () => {
  const kp = createUser();
  const text = formatCreds(fakeJwt(kp.getPublicKey()), new TextDecoder().decode(kp.getSeed()));
  expect(credsSigner(text, kp.getPublicKey())(undefined)).toMatchObject({ sig: '' });
});

it('refuses creds it cannot read: no seed block, a seed that is not base32, a seed of the wrong length', () => {
  const kp = createUser();
  const jwt = fakeJwt(kp.getPublicKey());
  const seed = new TextDecoder().decode(kp.getSeed());
  expect(() => credsSigner(`-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n`, kp.getPublicKey())).toThrow(
    /unable to parse credentials/,
  );
  expect(() => credsSigner(formatCreds(jwt, `${seed.slice(0, -1)}1`), kp.getPublicKey())).toThrow(/not base32/);
  expect(() => credsSigner(formatCreds(jwt, seed.slice(0, -8)), kp.getPublicKey())).toThrow(/wrong length/);
});
