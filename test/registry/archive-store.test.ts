/**
 * Archives by revision in a real docker-registry and in an image-layout directory: push
 * verifies (unsigned, tampered, untrusted refused), revision rules hold, resolve reads the
 * summary without the archive, pull verifies and refuses a blob altered on disk, and a
 * wasmCloud-style push of the real fakepay PAR resolves and pulls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openArchiveStore,
  ArchiveCache,
  DistributionClient,
  OCI_MANIFEST,
  WASMCLOUD_CONFIG,
  WASMCLOUD_LAYER,
  type ArchiveStore,
} from '../../registry/index.js';
import { sha256Digest } from '../../registry/digest.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { conformance, makeArchive, newSigner, type Signer } from './fixtures.js';

let reg: RegistryServer;
let signer: Signer;
let layoutDir: string;

beforeAll(async () => {
  reg = await startRegistry();
  signer = newSigner();
  layoutDir = mkdtempSync(join(tmpdir(), 'gantry-layout-'));
});
afterAll(async () => {
  await reg?.stop();
  rmSync(layoutDir, { recursive: true, force: true });
});

const kinds: Array<[string, () => { ref: string; store: ArchiveStore; blobFile: (digest: string) => string }]> = [
  [
    'registry',
    () => {
      const ref = `${reg.host}/rules/${Math.random().toString(36).slice(2, 8)}`;
      return {
        ref,
        store: openArchiveStore(ref, { plainHttpRegistries: [reg.host] }),
        blobFile: (d) => join(reg.storageDir, 'docker/registry/v2/blobs/sha256', d.slice(7, 9), d.slice(7), 'data'),
      };
    },
  ],
  [
    'oci-layout',
    () => {
      const dir = join(layoutDir, Math.random().toString(36).slice(2, 8));
      return {
        ref: `oci-layout:${dir}`,
        store: openArchiveStore(`oci-layout:${dir}`),
        blobFile: (d) => join(dir, 'blobs/sha256', d.slice(7)),
      };
    },
  ],
];

describe.each(kinds)('%s', (_kind, open) => {
  it('publishes by revision, resolves the highest without a revision, and keeps revisions fixed', async () => {
    const { store } = open();
    await expect(store.resolve()).rejects.toMatchObject({ code: 'REVISION_NOT_FOUND' });
    const r1 = await makeArchive(signer, 1);
    const r2 = await makeArchive(signer, 2);
    const p1 = await store.push(r1);
    const p2 = await store.push(r2);
    expect(p1.revision).toBe(1);
    expect(p2.digest).not.toBe(p1.digest);
    expect(p2.summary).toMatchObject({
      revision: 2,
      version: '0.2.0',
      capid: 'examples:payments',
      issuer: signer.issuer,
      vendor: 'Gantry tests',
    });
    expect(Object.keys(p2.summary.targets).sort()).toEqual(['aarch64-linux', 'x86_64-linux']);

    expect((await store.resolve()).digest).toBe(p2.digest);
    expect((await store.resolve(1)).digest).toBe(p1.digest);
    const err = await store.resolve(7).catch((e) => e);
    expect(err).toMatchObject({ code: 'REVISION_NOT_FOUND', available: [1, 2] });
    expect(err.message).toMatch(/published revisions: 1, 2/);

    // the same bytes again: nothing changes
    const again = await store.push(r2);
    expect(again.digest).toBe(p2.digest);
    expect((await store.revisions()).map((r) => r.revision)).toEqual([1, 2]);

    // other bytes under a published revision, or a revision not above the highest: refused
    await expect(store.push(await makeArchive(signer, 2))).rejects.toMatchObject({
      code: 'REVISION_EXISTS',
      message: expect.stringMatching(/revision 2 is already published/),
    });
    await expect(store.push(await makeArchive(signer, 5))).resolves.toMatchObject({ revision: 5 });
    await expect(store.push(await makeArchive(signer, 3))).rejects.toMatchObject({
      code: 'REVISION_NOT_INCREASING',
      message: expect.stringMatching(/not greater than the highest published revision 5/),
    });

    const list = await store.revisions();
    expect(list.map((r) => r.revision)).toEqual([1, 2, 5]);
    expect(list[0].pushedAt).toMatch(/^\d{4}-\d\d-\d\dT/);

    const pulled = await store.pull(2, { trustedIssuers: [signer.issuer], target: 'x86_64-linux' });
    expect(Buffer.compare(Buffer.from(pulled.bytes), Buffer.from(r2))).toBe(0);
    expect(pulled.digest).toBe(p2.digest);
    expect(pulled.verified.claims.revision).toBe(2);
  });

  it('refuses unsigned, tampered and untrusted archives on push, and publishes nothing', async () => {
    const { store } = open();
    const unsigned = readFileSync(conformance('wascap', 'synthetic', 'neg_no_claims.par'));
    const tampered = readFileSync(conformance('wascap', 'synthetic', 'neg_tampered_binary.par'));
    const badSignature = readFileSync(conformance('wascap', 'synthetic', 'neg_bad_signature.par'));
    await expect(store.push(unsigned)).rejects.toMatchObject({ code: 'PAR_UNSIGNED' });
    await expect(store.push(tampered)).rejects.toMatchObject({ code: 'PAR_HASH_MISMATCH' });
    await expect(store.push(badSignature)).rejects.toMatchObject({ code: 'PAR_SIGNATURE_INVALID' });
    await expect(store.push(await makeArchive(signer, 1), { trustedIssuers: [newSigner().issuer] })).rejects.toMatchObject({
      code: 'PAR_UNTRUSTED_ISSUER',
    });
    expect(await store.revisions()).toEqual([]);
  });

  it('refuses on pull an archive altered where it is stored, and the cache keeps nothing', async () => {
    const { store, blobFile } = open();
    const bytes = await makeArchive(signer, 1);
    const pushed = await store.push(bytes);
    const file = blobFile(sha256Digest(bytes));
    const altered = Buffer.from(readFileSync(file));
    altered[altered.length - 3] ^= 0xff; // same length, different content
    writeFileSync(file, altered);
    await expect(store.pull(pushed.digest)).rejects.toMatchObject({
      code: 'DIGEST_MISMATCH',
      message: expect.stringMatching(/altered or corrupted/),
    });
    const cacheDir = mkdtempSync(join(tmpdir(), 'gantry-cache-'));
    try {
      await expect(new ArchiveCache(cacheDir).fetch(store, pushed.digest)).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
      const left = existsSync(join(cacheDir, 'sha256')) ? readdirSync(join(cacheDir, 'sha256')) : [];
      expect(left).toEqual([]);
    } finally {
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });

  it('resolves from the summary alone: the archive blob is not needed to resolve, only to pull', async () => {
    const { store, blobFile } = open();
    const bytes = await makeArchive(signer, 3);
    const pushed = await store.push(bytes);
    rmSync(blobFile(sha256Digest(bytes)));
    expect(await store.resolve()).toMatchObject({
      revision: 3,
      digest: pushed.digest,
      summary: { targets: { 'x86_64-linux': { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } } },
    });
    await expect(store.pull(pushed.digest)).rejects.toMatchObject({ code: expect.stringMatching(/^(NOT_FOUND|HTTP_ERROR)$/) });
  });
});

describe('wasmCloud archives', () => {
  it('resolves and pulls the real fakepay PAR pushed with wasmCloud media types', async () => {
    const repo = 'wasmcloud/fakepay';
    const raw = new DistributionClient(reg.host, repo, { plainHttpHosts: [reg.host] });
    const par = readFileSync(conformance('wascap', 'par', 'fakepay.par.gz'));
    const config = Buffer.from('{}');
    // built by hand over HTTP, as `wash push` lays it out: no Gantry config, a semver tag
    const base = `http://${reg.host}/v2/${repo}`;
    for (const blob of [config, par]) {
      const started = await fetch(`${base}/blobs/uploads/`, { method: 'POST' });
      expect(started.status).toBe(202);
      const loc = new URL(started.headers.get('location')!, `http://${reg.host}`);
      loc.searchParams.set('digest', sha256Digest(blob));
      expect((await fetch(loc, { method: 'PUT', body: blob })).status).toBe(201);
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: WASMCLOUD_CONFIG, digest: sha256Digest(config), size: config.length },
      layers: [{ mediaType: WASMCLOUD_LAYER, digest: sha256Digest(par), size: par.length }],
    });
    const put = await fetch(`${base}/manifests/1.0`, { method: 'PUT', body: manifest, headers: { 'content-type': OCI_MANIFEST } });
    expect(put.status).toBe(201);
    expect(await raw.listTags()).toEqual(['1.0']);

    const store = openArchiveStore(`${reg.host}/${repo}`, { plainHttpRegistries: [reg.host] });
    const resolved = await store.resolve();
    expect(resolved).toMatchObject({ revision: 1, digest: sha256Digest(Buffer.from(manifest)) });
    expect(resolved.summary).toMatchObject({
      name: 'Fake Payments',
      capid: 'examples:payments',
      vendor: 'wasmCloud',
      issuer: 'ABNLQZLJFBAWP4KJR63PYCA4Y655OZOOHTGRW6FNFGEVUE5RN4PO2RXR',
    });
    expect(Object.keys(resolved.summary.targets)).toEqual(['x86_64-linux']);
    const pulled = await store.pull(resolved.digest, {
      trustedIssuers: ['ABNLQZLJFBAWP4KJR63PYCA4Y655OZOOHTGRW6FNFGEVUE5RN4PO2RXR'],
      target: 'x86_64-linux',
    });
    expect(pulled.verified.claims.subject).toBe('VAN5FE2JCYMZFHZZWS2KNKVEIIU5SH5E5SD3IIF6BWA25XKFKCHXEMDU');
    expect(sha256Digest(pulled.bytes)).toBe(sha256Digest(par));
    // its revision counts: another archive as revision 1 is refused
    await expect(store.push(await makeArchive(signer, 1))).rejects.toMatchObject({ code: 'REVISION_EXISTS' });
    // and trust is enforced on pull too
    await expect(store.pull(resolved.digest, { trustedIssuers: [signer.issuer] })).rejects.toMatchObject({ code: 'PAR_UNTRUSTED_ISSUER' });
  });
});

describe('ArchiveCache', () => {
  it('shares one download among concurrent fetches, serves later ones from disk, re-fetches a corrupted file and evicts LRU', async () => {
    const ref = `${reg.host}/cache/demo`;
    const inner = openArchiveStore(ref, { plainHttpRegistries: [reg.host] });
    let pulls = 0;
    const counting: ArchiveStore = {
      ...inner,
      description: inner.description,
      push: inner.push.bind(inner),
      resolve: inner.resolve.bind(inner),
      revisions: inner.revisions.bind(inner),
      pull: (d, o) => {
        pulls++;
        return inner.pull(d, o);
      },
    };
    const a = await inner.push(await makeArchive(signer, 1, { binaryBytes: 200_000 }));
    const b = await inner.push(await makeArchive(signer, 2, { binaryBytes: 200_000 }));
    const dir = mkdtempSync(join(tmpdir(), 'gantry-cache-'));
    try {
      const cache = new ArchiveCache(dir, { maxBytes: 300_000 });
      const got = await Promise.all([1, 2, 3].map(() => cache.fetch(counting, a.digest, { trustedIssuers: [signer.issuer] })));
      expect(pulls).toBe(1);
      expect(new Set(got.map((g) => g.path)).size).toBe(1);
      expect(got[0].verified.claims.revision).toBe(1);
      await cache.fetch(counting, a.digest);
      expect(pulls).toBe(1);
      rmSync(join(dir, 'sha256'), { recursive: true });

      // a caller joining that download with another trust list is held to its own list
      const [shared, other] = await Promise.allSettled([
        cache.fetch(counting, a.digest),
        cache.fetch(counting, a.digest, { trustedIssuers: [newSigner().issuer] }),
      ]);
      expect(pulls).toBe(2);
      expect(shared.status).toBe('fulfilled');
      expect(other).toMatchObject({ status: 'rejected', reason: { code: 'PAR_UNTRUSTED_ISSUER' } });

      // altered on disk: dropped and fetched again
      const f = got[0].path;
      const bytes = Buffer.from(readFileSync(f));
      bytes[bytes.length - 1] ^= 1;
      writeFileSync(f, bytes);
      const again = await cache.fetch(counting, a.digest);
      expect(pulls).toBe(3);
      expect(sha256Digest(again.bytes)).toBe(sha256Digest(got[0].bytes));

      // a second archive over the size bound evicts the least recently used one
      await cache.fetch(counting, b.digest);
      const files = readdirSync(join(dir, 'sha256')).filter((n) => n.endsWith('.par'));
      expect(files).toEqual([`${b.digest.slice(7)}.par`]);

      // a caller with a different trust list is refused even from a cached file
      await expect(cache.fetch(counting, b.digest, { trustedIssuers: [newSigner().issuer] })).rejects.toMatchObject({
        code: 'PAR_UNTRUSTED_ISSUER',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
