/**
 * RegistryAccess against a real docker-registry with htpasswd auth: access is shown per
 * (repository, digest, credentials) by a manifest HEAD, remembered for its TTL only when it
 * succeeded, and refusals are specific (AUTH_FAILED, NOT_FOUND).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialIdentity, RegistryAccess } from '../../agent/registry-access.js';
import { createPar, generateSeed } from '../../par/index.js';
import { openArchiveStore, type RegistryCredentials } from '../../registry/index.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';

const user = { username: 'reader', password: 'right-password' };
let registry: RegistryServer;
let ref: string;
let digest: string;
/** three more archives in the same repository: three remembered keys for one store and credentials */
let others: string[];

const store = (credentials?: RegistryCredentials, r = ref) => openArchiveStore(r, { plainHttpRegistries: [registry.host], credentials });
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => ({ code: 'none' }),
    (e: { code: string }) => e,
  );

beforeAll(async () => {
  registry = await startRegistry({ basicAuth: { user: user.username, password: user.password } });
  ref = `${registry.host}/private/echo`;
  const bytes = await createPar({
    name: 'echo',
    vendor: 'tests',
    revision: 1,
    issuerSeed: generateSeed('account'),
    subjectSeed: generateSeed('service'),
    binaries: { 'x86_64-linux': new Uint8Array(randomBytes(1000)) },
  });
  digest = (await store(user).push(bytes)).digest;
  others = [];
  for (let i = 0; i < 3; i++) {
    const more = await createPar({
      name: 'echo',
      vendor: 'tests',
      revision: 2 + i,
      issuerSeed: generateSeed('account'),
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': new Uint8Array(randomBytes(100)) },
    });
    others.push((await store(user).push(more)).digest);
  }
});

afterAll(async () => {
  await registry?.stop();
});

describe('RegistryAccess', () => {
  it('shows access with the right credentials once, and remembers it until the TTL passes', async () => {
    let now = 1_000_000;
    const access = new RegistryAccess({ ttlMs: 60_000, now: () => now });
    await access.ensure(store(user), digest, user);
    await access.ensure(store(user), digest, user);
    expect(access.checks).toBe(1);
    now += 60_001;
    await access.ensure(store(user), digest, user);
    expect(access.checks).toBe(2);
  });

  it('trusts a shown access for exactly its TTL: remembered one millisecond before, asked again at it', async () => {
    let now = 1_000_000;
    const access = new RegistryAccess({ ttlMs: 60_000, now: () => now });
    await access.ensure(store(user), digest, user);
    now += 59_999;
    await access.ensure(store(user), digest, user);
    expect(access.checks).toBe(1);
    now += 1;
    await access.ensure(store(user), digest, user);
    expect(access.checks).toBe(2);
  });

  it('remembers for five minutes by default', async () => {
    let now = 1_000_000;
    const access = new RegistryAccess({ now: () => now });
    await access.ensure(store(user), digest, user);
    now += 5 * 60_000 - 1;
    await access.ensure(store(user), digest, user);
    expect(access.checks).toBe(1);
    now += 1;
    await access.ensure(store(user), digest, user);
    expect(access.checks).toBe(2);
  });

  it('keeps at most maxEntries accesses, forgetting the oldest first', async () => {
    const access = new RegistryAccess({ maxEntries: 2 });
    const [a, b, c] = others;
    for (const d of [a, b, c]) await access.ensure(store(user), d, user);
    expect(access.checks).toBe(3);
    // the two newest are remembered
    await access.ensure(store(user), c, user);
    await access.ensure(store(user), b, user);
    expect(access.checks).toBe(3);
    // the oldest was forgotten: asked again
    await access.ensure(store(user), a, user);
    expect(access.checks).toBe(4);
  });

  it('refuses anonymous and wrong credentials with AUTH_FAILED every time, whatever was shown for others', async () => {
    const access = new RegistryAccess();
    await access.ensure(store(user), digest, user);
    const wrong = { username: user.username, password: 'wrong' };
    for (let i = 0; i < 2; i++) {
      expect((await refusal(access.ensure(store(), digest, undefined))).code).toBe('AUTH_FAILED');
      expect((await refusal(access.ensure(store(wrong), digest, wrong))).code).toBe('AUTH_FAILED');
    }
    expect(access.checks).toBe(5); // refusals are never remembered
  });

  it('refuses a digest that is not in the named repository (NOT_FOUND), even with good credentials', async () => {
    const access = new RegistryAccess();
    const other = `${registry.host}/private/other`;
    expect((await refusal(access.ensure(store(user, other), digest, user))).code).toBe('NOT_FOUND');
  });

  it('remembers credentials only as a hash', () => {
    expect(credentialIdentity(undefined)).toBe('anonymous');
    const id = credentialIdentity(user);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(id).not.toContain(user.password);
    expect(credentialIdentity({ ...user, password: 'other' })).not.toBe(id);
  });

  it('tells credentials apart by every field, and an absent field from an empty one', () => {
    const ids = [
      {},
      { username: 'a' },
      { username: 'b' },
      { username: 'a', password: '' },
      { username: 'a', password: 'p' },
      { identityToken: 't' },
      { identityToken: '' },
      { registryToken: 't' },
      { registryToken: '' },
      { password: 'p' },
    ].map((c) => credentialIdentity(c));
    expect(new Set(ids).size).toBe(ids.length);
    // the same fields give the same identity (it keys a memory)
    expect(credentialIdentity({ username: 'a', password: 'p' })).toBe(ids[4]);
  });
});
