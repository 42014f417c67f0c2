/**
 * A manifest PUT that meets distribution's blob-link race (registry/distribution/client.ts,
 * putManifest): while another client commits the same blob, the registry can answer 400
 * MANIFEST_BLOB_UNKNOWN for a blob that is there. Against a registry served from the test,
 * that answer is tried again (twice) and any other refusal is not; against the real
 * docker-registry, clients that push one blob at the same instant all get their manifests in
 * (without the handling, 10 of 640 such PUTs failed on a loaded machine).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../registry/digest.js';
import { DistributionClient } from '../../registry/distribution/client.js';
import { OCI_MANIFEST } from '../../registry/index.js';
import { startRegistry } from '../support/registry.js';

const EMPTY = new Uint8Array(Buffer.from('{}'));
const manifest = (layer: Uint8Array) =>
  new Uint8Array(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: 'application/x-gantry-test',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(EMPTY), size: 2 },
        layers: [{ mediaType: 'text/plain', digest: sha256Digest(layer), size: layer.length }],
      }),
    ),
  );

describe('a registry that reports a blob unknown', () => {
  let server: Server;
  let host: string;
  /** per tag: how many PUTs to refuse, and with what */
  const plan = new Map<string, { refuse: number; errors: object[] }>();
  const puts = new Map<string, number>();
  const blobUnknown = [
    { code: 'DIGEST_INVALID', message: 'provided digest did not match uploaded content' },
    { code: 'MANIFEST_BLOB_UNKNOWN', message: 'blob unknown to registry', detail: sha256Digest(EMPTY) },
  ];

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/v2/' || req.url === '/v2') return void res.writeHead(200).end();
      const m = /^\/v2\/acme\/kv\/manifests\/([^/]+)$/.exec(req.url ?? '');
      if (!m || req.method !== 'PUT') return void res.writeHead(404).end();
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const tag = m[1];
        const n = (puts.get(tag) ?? 0) + 1;
        puts.set(tag, n);
        const p = plan.get(tag)!;
        if (n <= p.refuse) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: p.errors }));
        res.writeHead(201, { 'docker-content-digest': sha256Digest(Buffer.concat(chunks)) }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
  });

  const put = (tag: string, refuse: number, errors = blobUnknown) => {
    plan.set(tag, { refuse, errors });
    return new DistributionClient(host, 'acme/kv', { plainHttpHosts: [host] }).putManifest(tag, manifest(EMPTY), OCI_MANIFEST);
  };

  it('is asked again: once or twice unknown, then stored', async () => {
    expect(await put('once', 1)).toBe(sha256Digest(manifest(EMPTY)));
    expect(puts.get('once')).toBe(2);
    expect(await put('twice', 2)).toBe(sha256Digest(manifest(EMPTY)));
    expect(puts.get('twice')).toBe(3);
  });

  it('a blob unknown three times is refused with what the registry said', async () => {
    await expect(put('never', 99)).rejects.toMatchObject({
      code: 'HTTP_ERROR',
      message: expect.stringContaining('put manifest never failed with 400: DIGEST_INVALID'),
    });
    await expect(put('never2', 99)).rejects.toThrow('MANIFEST_BLOB_UNKNOWN');
    expect(puts.get('never')).toBe(3);
  });

  it('any other refusal is not asked again', async () => {
    await expect(put('invalid', 99, [{ code: 'MANIFEST_INVALID', message: 'manifest invalid' }])).rejects.toThrow('MANIFEST_INVALID');
    expect(puts.get('invalid')).toBe(1);
  });
});

describe('the real registry', () => {
  it('clients pushing the same blob at the same instant all get their manifests in', async () => {
    const reg = await startRegistry();
    try {
      for (let round = 0; round < 20; round++) {
        const clients = Array.from({ length: 8 }, () => new DistributionClient(reg.host, `race/r${round}`, { plainHttpHosts: [reg.host] }));
        const stored = await Promise.all(
          clients.map(async (c, i) => {
            const layer = new Uint8Array(Buffer.from(`layer ${round} ${i}`));
            await Promise.all([c.putBlob(sha256Digest(EMPTY), EMPTY), c.putBlob(sha256Digest(layer), layer)]);
            return c.putManifest(`t${i}`, manifest(layer), OCI_MANIFEST);
          }),
        );
        expect(new Set(stored).size).toBe(8);
      }
    } finally {
      await reg.stop();
    }
  }, 120_000);
});
