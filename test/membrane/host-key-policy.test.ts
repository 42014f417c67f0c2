/** The controller's decisions on node-made host keys (controller/credentials/host-key-policy.ts): unit tests, no servers. */
import { createAccount, createUser } from '@nats-io/nkeys';
import { describe, expect, it } from 'vitest';
import { hostKeyRefusal, renewAtMs } from '../../controller/credentials/host-key-policy.js';
import type { NatsClaims } from '../../client/jwt.js';

const K = createUser().getPublicKey();
const A = createAccount().getPublicKey();
const none = { owners: new Map<string, string>(), live: () => true, grantKeys: new Map<string, string>() };

describe('hostKeyRefusal', () => {
  it('signs a key nobody holds, and the key of the instance that holds it', () => {
    expect(hostKeyRefusal(K, 'u1', none)).toBeUndefined();
    expect(hostKeyRefusal(K, 'u1', { ...none, owners: new Map([[K, 'u1']]) })).toBeUndefined();
  });
  it("refuses a CapabilityGrant's key, naming the grant", () => {
    expect(hostKeyRefusal(K, 'u1', { ...none, grantKeys: new Map([[K, 'ns/g']]) })).toBe(
      `host key ${K} is the key of CapabilityGrant ns/g; a host needs a key of its own`,
    );
  });
  it('refuses a key another live instance holds; a gone owner frees it', () => {
    const owners = new Map([[K, 'u2']]);
    expect(hostKeyRefusal(K, 'u1', { ...none, owners })).toMatch(/already belongs to another instance \(uid u2\)/);
    expect(hostKeyRefusal(K, 'u1', { ...none, owners, live: (u) => u !== 'u2' })).toBeUndefined();
  });
});

const claims = (c: Partial<NatsClaims>): NatsClaims => ({
  jti: 'j',
  iat: 100,
  iss: A,
  sub: K,
  exp: 160,
  nats: { type: 'user', version: 2 },
  ...c,
});
const want = { key: K, issuer: A, lifetimeMs: 60_000 };

describe('renewAtMs', () => {
  it('renews when a third of the lifetime remains', () => {
    expect(renewAtMs(claims({}), want)).toBe(160_000 - 20_000);
  });
  it('renews at once: no JWT, another key, another issuer, no exp, or revoked', () => {
    expect(renewAtMs(undefined, want)).toBe(0);
    expect(renewAtMs(claims({ sub: createUser().getPublicKey() }), want)).toBe(0);
    expect(renewAtMs(claims({ iss: createAccount().getPublicKey() }), want)).toBe(0);
    expect(renewAtMs(claims({ exp: undefined }), want)).toBe(0);
    expect(renewAtMs(claims({ iat: 100 }), { ...want, cutoff: 100 })).toBe(0);
    expect(renewAtMs(claims({ iat: 101 }), { ...want, cutoff: 100 })).toBe(140_000);
  });
});
