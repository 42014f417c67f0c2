/**
 * A large pull in one pass over the bytes, against a real docker-registry: the blob's digest
 * and a plain tar's binary are hashed on the hashing thread while the socket fills the buffer
 * (registry/distribution/hash-thread.ts), and verification takes the binary's hash from there.
 * The attacks still fail closed with their own reasons: a binary altered behind a manifest
 * that names the altered blob (PAR_HASH_MISMATCH), a blob altered on disk (DIGEST_MISMATCH);
 * a download cut part-way frees the thread for the next one.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarBinaryRanges, verifyPar } from '../../par/index.js';
import type { BlobParts } from '../../registry/backend.js';
import { sha256Digest } from '../../registry/digest.js';
import { DistributionClient } from '../../registry/distribution/client.js';
import { openArchiveStore } from '../../registry/index.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner } from './fixtures.js';

const MiB = 1024 * 1024;

const members = (): BlobParts => ({ locate: (prefix) => tarBinaryRanges(prefix) });

describe('a large pull in one pass', () => {
  let reg: RegistryServer;
  beforeAll(async () => {
    reg = await startRegistry();
  });
  afterAll(async () => reg?.stop());

  it('hashes the binary beside the digest; a binary altered behind a manifest naming it is PAR_HASH_MISMATCH', async () => {
    const signer = newSigner();
    const archive = await makeArchive(signer, 1, { binaryBytes: 2 * MiB, format: 'tar' });
    const store = openArchiveStore(`${reg.host}/onepass/tar`, { plainHttpRegistries: [reg.host] });
    const { digest } = await store.push(archive);
    const pulled = await store.pull(digest, { trustedIssuers: [signer.issuer], target: 'x86_64-linux' });
    const signed = (await verifyPar(archive)).claims.hashes['x86_64-linux'];
    expect(pulled.verified.targets['x86_64-linux'].sha256).toBe(signed);

    // the download's pass hashed exactly the binary
    const client = new DistributionClient(reg.host, 'onepass/tar', { plainHttpHosts: [reg.host] });
    const parts = members();
    const bytes = await client.getBlob(sha256Digest(archive), archive.length, undefined, parts);
    expect(Buffer.compare(Buffer.from(bytes), Buffer.from(archive))).toBe(0);
    // both binaries begin within the first 64 KiB (the arm one is a few bytes): both hashed
    const [start, end] = tarBinaryRanges(archive, 'x86_64-linux')![0];
    expect(parts.found).toHaveLength(2);
    expect(parts.found).toContainEqual({ start, end, hex: signed.toLowerCase() });

    // the registry serves a manifest naming an archive whose binary was altered after signing
    const altered = Buffer.from(archive);
    altered[start + MiB] ^= 0xff;
    const alteredDigest = sha256Digest(altered);
    await client.putBlob(alteredDigest, altered);
    const manifest = JSON.parse(Buffer.from((await client.getManifest(digest))!.bytes).toString('utf8'));
    manifest.layers[0].digest = alteredDigest;
    const forged = await client.putManifest('forged', Buffer.from(JSON.stringify(manifest)), manifest.mediaType);
    const altParts = members();
    await client.getBlob(alteredDigest, altered.length, undefined, altParts);
    const alteredHex = createHash('sha256').update(altered.subarray(start, end)).digest('hex');
    expect(altParts.found).toContainEqual({ start, end, hex: alteredHex });
    await expect(store.pull(forged)).rejects.toMatchObject({ code: 'PAR_HASH_MISMATCH', message: expect.stringContaining(signed) });
  });

  it('a download cut part-way frees the threads; three at once all come back whole, the one asking for parts with them', async () => {
    const archive = await makeArchive(newSigner(), 1, { binaryBytes: 2 * MiB, format: 'tar' });
    const digest = sha256Digest(archive);
    const client = new DistributionClient(reg.host, 'onepass/cut', { plainHttpHosts: [reg.host] });
    await client.putBlob(digest, archive);

    // a registry front that announces the whole blob and hangs up half way
    const cutter = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(archive.length), 'content-type': 'application/octet-stream' });
      res.write(archive.subarray(0, MiB));
      setTimeout(() => res.destroy(), 50);
    });
    const port = await freePort();
    await new Promise<void>((r) => cutter.listen(port, '127.0.0.1', r));
    try {
      const host = `127.0.0.1:${port}`;
      const cut = new DistributionClient(host, 'onepass/cut', { plainHttpHosts: [host], maxRetries: 0 });
      await expect(cut.getBlob(digest, archive.length, undefined, members())).rejects.toMatchObject({ code: 'UNREACHABLE' });
    } finally {
      cutter.closeAllConnections();
      await new Promise<void>((r) => cutter.close(() => r()));
    }
    // the threads are free again at once: the next download hashes on them
    const after = members();
    await client.getBlob(digest, archive.length, undefined, after);
    expect(after.found).toHaveLength(2);

    // a plain download takes one thread at most, so one asking for parts beside it still gets one
    const parts = members();
    const got = await Promise.all([
      client.getBlob(digest, archive.length),
      client.getBlob(digest, archive.length, undefined, parts),
      client.getBlob(digest, archive.length),
    ]);
    for (const bytes of got) expect(sha256Digest(bytes)).toBe(digest);
    expect(parts.found).toHaveLength(2);
  });
});
