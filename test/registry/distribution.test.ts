/**
 * The OCI distribution client against a real docker-registry: anonymous, htpasswd basic and
 * bearer-token auth; tag pagination; digest-checked blobs; chunked upload of 64 MiB and its
 * resume after a connection is cut; HTTPS with a custom CA; plain HTTP only when allowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { DistributionClient } from '../../registry/distribution/client.js';
import { sha256Digest } from '../../registry/digest.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import { selfSignedCert, startRegistry, startTokenServer, type RegistryServer, type TokenServer } from '../support/registry.js';
import { startCuttingProxy } from './cutting-proxy.js';
import { makeArchive, newSigner } from './fixtures.js';
import { credentialsFromDockerConfig, openArchiveStore } from '../../registry/index.js';
import { createServer } from 'node:http';
import { freePort } from '../support/ports.js';

const MiB = 1024 * 1024;

async function pushTinyImage(client: DistributionClient, tag: string): Promise<string> {
  const config = Buffer.from('{}');
  const layer = Buffer.from(`layer for ${tag}`);
  await client.putBlob(sha256Digest(config), config);
  await client.putBlob(sha256Digest(layer), layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256Digest(config), size: config.length },
      layers: [{ mediaType: 'application/octet-stream', digest: sha256Digest(layer), size: layer.length }],
    }),
  );
  return client.putManifest(tag, manifest, OCI_MANIFEST);
}

describe('anonymous registry', () => {
  let reg: RegistryServer;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.stop());

  it('lists tags across Link pages and checks manifest digests', async () => {
    const client = new DistributionClient(reg.host, 'paging/demo', { plainHttpHosts: [reg.host], tagPageSize: 2 });
    expect(await client.listTags()).toEqual([]);
    const digests = [];
    for (const t of ['a', 'b', 'c', 'd', 'e']) digests.push(await pushTinyImage(client, t));
    expect((await client.listTags()).sort()).toEqual(['a', 'b', 'c', 'd', 'e']);
    const got = await client.getManifest('c');
    expect(got?.digest).toBe(digests[2]);
    expect((await client.getManifest(digests[4]))?.digest).toBe(digests[4]);
    expect(await client.getManifest('missing')).toBeUndefined();
  });

  it('uploads 64 MiB in chunks and reads it back digest-checked', async () => {
    const client = new DistributionClient(reg.host, 'big/chunked', { plainHttpHosts: [reg.host], chunkBytes: 16 * MiB });
    const blob = randomBytes(64 * MiB);
    const digest = sha256Digest(blob);
    const seen: number[] = [];
    await client.putBlob(digest, blob, (sent) => seen.push(sent));
    expect(seen.filter((n) => n < blob.length).length).toBeGreaterThanOrEqual(3); // several PATCHes, not one PUT
    expect(await client.hasBlob(digest)).toBe(true);
    const back = await client.getBlob(digest, blob.length);
    expect(Buffer.compare(Buffer.from(back), blob)).toBe(0);
    await expect(client.getBlob(sha256Digest(Buffer.from('nope')))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('resumes a chunked upload of a 64 MiB archive where the registry stands after the connection is cut', async () => {
    const proxy = await startCuttingProxy(Number(reg.host.split(':')[1]), { atPatch: 3 });
    try {
      const archive = await makeArchive(newSigner(), 1, { binaryBytes: 64 * MiB, format: 'tar' });
      expect(archive.length).toBeGreaterThan(64 * MiB);
      const store = openArchiveStore(`${proxy.host}/big/resumed`, { plainHttpRegistries: [proxy.host], chunkBytes: 16 * MiB });
      const pushed = await store.push(archive);
      expect(proxy.cuts).toBe(1);
      // resumed, not restarted: what reached the registry is the archive plus small requests
      expect(proxy.bytesUp).toBeLessThan(archive.length + MiB);
      const direct = openArchiveStore(`${reg.host}/big/resumed`, { plainHttpRegistries: [reg.host] });
      expect((await direct.resolve()).digest).toBe(pushed.digest);
      const pulled = await direct.pull(pushed.digest);
      expect(sha256Digest(pulled.bytes)).toBe(sha256Digest(archive));
    } finally {
      await proxy.stop();
    }
  });

  it('recovers when a PATCH is cut part-way through its body (registry drops the session)', async () => {
    const proxy = await startCuttingProxy(Number(reg.host.split(':')[1]), { afterBytes: 5 * MiB });
    try {
      const client = new DistributionClient(proxy.host, 'big/restarted', { plainHttpHosts: [proxy.host], chunkBytes: 2 * MiB });
      const blob = randomBytes(8 * MiB);
      const digest = sha256Digest(blob);
      await client.putBlob(digest, blob);
      expect(proxy.cuts).toBe(1);
      expect(sha256Digest(await client.getBlob(digest, blob.length))).toBe(digest);
    } finally {
      await proxy.stop();
    }
  });

  it('retries a registry answering 503, and times out one that never answers', async () => {
    const proxy = await startCuttingProxy(Number(reg.host.split(':')[1]), { unavailableFirst: 2 });
    const silent = createServer(() => {}); // accepts, never answers
    const silentPort = await freePort();
    await new Promise<void>((r) => silent.listen(silentPort, '127.0.0.1', r));
    try {
      const client = new DistributionClient(proxy.host, 'paging/demo', { plainHttpHosts: [proxy.host] });
      expect((await client.listTags()).length).toBe(5);
      expect(proxy.cuts).toBe(2);
      const stuck = new DistributionClient(`127.0.0.1:${silentPort}`, 'x/y', {
        plainHttpHosts: [`127.0.0.1:${silentPort}`],
        timeoutMs: 300,
        maxRetries: 1,
      });
      await expect(stuck.listTags()).rejects.toMatchObject({ code: 'TIMEOUT' });
    } finally {
      await proxy.stop();
      silent.closeAllConnections?.();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('refuses HTTPS-only talk to a plain-HTTP registry unless it is named', async () => {
    const client = new DistributionClient(reg.host, 'x/y');
    await expect(client.listTags()).rejects.toMatchObject({ code: 'PLAIN_HTTP_REFUSED' });
  });

  it('reports an unreachable registry with a stable code', async () => {
    const client = new DistributionClient('127.0.0.1:1', 'x/y', { plainHttpHosts: ['127.0.0.1:1'], maxRetries: 1 });
    await expect(client.listTags()).rejects.toMatchObject({ code: 'UNREACHABLE' });
  });
});

describe('htpasswd basic auth', () => {
  let reg: RegistryServer;
  beforeAll(async () => {
    reg = await startRegistry({ basicAuth: { user: 'ada', password: 's3cret' } });
  });
  afterAll(async () => reg?.stop());

  it('authenticates with the right password and refuses others', async () => {
    const ok = new DistributionClient(reg.host, 'basic/repo', {
      plainHttpHosts: [reg.host],
      credentials: { username: 'ada', password: 's3cret' },
    });
    const digest = await pushTinyImage(ok, 'v1');
    expect((await ok.getManifest('v1'))?.digest).toBe(digest);
    const wrong = new DistributionClient(reg.host, 'basic/repo', {
      plainHttpHosts: [reg.host],
      credentials: { username: 'ada', password: 'nope' },
    });
    await expect(wrong.listTags()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const none = new DistributionClient(reg.host, 'basic/repo', { plainHttpHosts: [reg.host] });
    await expect(none.listTags()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('pushes and pulls archives with credentials from a docker config', async () => {
    const signer = newSigner();
    const dockerConfig = { auths: { [reg.host]: { auth: Buffer.from('ada:s3cret').toString('base64') } } };
    const store = openArchiveStore(`${reg.host}/basic/archive`, {
      plainHttpRegistries: [reg.host],
      credentials: credentialsFromDockerConfig(dockerConfig, reg.host),
    });
    const pushed = await store.push(await makeArchive(signer, 4));
    expect((await store.resolve()).digest).toBe(pushed.digest);
    expect((await store.pull(pushed.digest, { trustedIssuers: [signer.issuer] })).verified.claims.revision).toBe(4);
    await expect(openArchiveStore(`${reg.host}/basic/archive`, { plainHttpRegistries: [reg.host] }).resolve()).rejects.toMatchObject({
      code: 'AUTH_FAILED',
    });
  });
});

describe('bearer token auth', () => {
  let reg: RegistryServer;
  let tokens: TokenServer;
  beforeAll(async () => {
    tokens = await startTokenServer({ grace: 'hopper' });
    reg = await startRegistry({
      token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
    });
  });
  afterAll(async () => {
    await reg?.stop();
    await tokens?.stop();
  });

  it('follows the challenge to the token server and caches tokens per scope', async () => {
    const client = new DistributionClient(reg.host, 'token/repo', {
      plainHttpHosts: [reg.host, tokens.host],
      credentials: { username: 'grace', password: 'hopper' },
    });
    const before = tokens.requests;
    for (const t of ['1', '2', '3']) await pushTinyImage(client, t);
    expect((await client.listTags()).sort()).toEqual(['1', '2', '3']);
    // one token for pull, one for pull+push — not one per request
    expect(tokens.requests - before).toBeLessThanOrEqual(2);
    expect(client.transport.tokenRequests).toBeLessThanOrEqual(2);
  });

  it('pushes, resolves and pulls archives behind the token server', async () => {
    const signer = newSigner();
    const store = openArchiveStore(`${reg.host}/token/archive`, {
      plainHttpRegistries: [reg.host, tokens.host],
      credentials: { username: 'grace', password: 'hopper' },
    });
    const before = tokens.requests;
    const first = await store.push(await makeArchive(signer, 1));
    const second = await store.push(await makeArchive(signer, 2));
    expect((await store.resolve()).digest).toBe(second.digest);
    expect((await store.pull(1, { trustedIssuers: [signer.issuer] })).digest).toBe(first.digest);
    // config and archive go up side by side, yet share one token per scope
    expect(tokens.requests - before).toBe(2);
  });

  it('exchanges a docker identity token (OAuth2 refresh token) for access', async () => {
    const client = new DistributionClient(reg.host, 'token/repo', {
      plainHttpHosts: [reg.host, tokens.host],
      credentials: { identityToken: 'refresh-grace' },
    });
    expect((await client.listTags()).sort()).toEqual(['1', '2', '3']);
    const bad = new DistributionClient(reg.host, 'token/repo', {
      plainHttpHosts: [reg.host, tokens.host],
      credentials: { identityToken: 'refresh-nobody' },
    });
    await expect(bad.listTags()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('refuses bad credentials at the token server', async () => {
    const client = new DistributionClient(reg.host, 'token/repo', {
      plainHttpHosts: [reg.host, tokens.host],
      credentials: { username: 'grace', password: 'wrong' },
    });
    await expect(client.listTags()).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('does not send credentials to a plain-HTTP realm that was not named', async () => {
    const client = new DistributionClient(reg.host, 'token/repo', {
      plainHttpHosts: [reg.host],
      credentials: { username: 'grace', password: 'hopper' },
    });
    await expect(client.listTags()).rejects.toMatchObject({ code: 'PLAIN_HTTP_REFUSED' });
  });
});

describe('HTTPS with a custom CA', () => {
  let reg: RegistryServer;
  let cert: ReturnType<typeof selfSignedCert>;
  beforeAll(async () => {
    cert = selfSignedCert();
    reg = await startRegistry({ tls: { certificate: cert.certificate, key: cert.key } });
  });
  afterAll(async () => {
    await reg?.stop();
    cert?.cleanup();
  });

  it('trusts the registry through caFile and not without it', async () => {
    const ok = new DistributionClient(reg.host, 'tls/repo', { caFile: cert.certificate });
    const digest = await pushTinyImage(ok, 'v1');
    expect((await ok.getManifest('v1'))?.digest).toBe(digest);
    const untrusted = new DistributionClient(reg.host, 'tls/repo', { maxRetries: 0 });
    await expect(untrusted.listTags()).rejects.toMatchObject({ code: 'UNREACHABLE', message: expect.stringMatching(/TLS|CA/) });
  });
});
