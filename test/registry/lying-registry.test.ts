/**
 * A registry that serves different bytes for a digest than the digest names (a compromised
 * mirror, a cache poisoned by a tag move). Content addressing is the whole integrity story of
 * a pull by digest, so `DistributionClient.getManifest` hashes what it received and refuses
 * a mismatch with DIGEST_MISMATCH; a pull by tag has nothing to compare with and answers the
 * digest of what it got. Served from the test itself over loopback HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../registry/digest.js';
import { DistributionClient } from '../../registry/distribution/client.js';
import { OCI_MANIFEST } from '../../registry/index.js';

const manifest = (note: string) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(Buffer.from('{}')), size: 2 },
      layers: [],
      annotations: { note },
    }),
  );
const honest = manifest('the archive the signer published');
const forged = manifest('something else entirely');
const honestDigest = sha256Digest(honest);
const forgedDigest = sha256Digest(forged);

let server: Server;
let host: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/v2/' || url === '/v2') return void res.writeHead(200).end();
    const m = /^\/v2\/lies\/demo\/manifests\/(.+)$/.exec(url);
    if (req.method !== 'GET' || !m) return void res.writeHead(404).end();
    const ref = decodeURIComponent(m[1]);
    // whatever it is asked for (the honest digest, the forged one, the tag), it serves the forged manifest
    const body = ref === honestDigest || ref === forgedDigest || ref === 'latest' ? forged : undefined;
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': OCI_MANIFEST, 'docker-content-digest': ref.startsWith('sha256:') ? ref : forgedDigest }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

describe('a registry that serves different bytes for a digest', () => {
  it('a manifest pulled by digest is hashed and refused when it is not what the digest names (DIGEST_MISMATCH)', async () => {
    const client = new DistributionClient(host, 'lies/demo', { plainHttpHosts: [host] });
    const err = await client.getManifest(honestDigest).then(
      () => undefined,
      (e) => e,
    );
    expect(err?.code).toBe('DIGEST_MISMATCH');
    expect(err.message).toContain(honestDigest);
    expect(err.message).toContain(forgedDigest); // says what it got, not just that it failed
  });

  it('the same client accepts content that matches its digest, and a pull by tag answers the digest of what it got', async () => {
    const client = new DistributionClient(host, 'lies/demo', { plainHttpHosts: [host] });
    const byDigest = await client.getManifest(forgedDigest);
    expect(byDigest?.digest).toBe(forgedDigest);
    expect(Buffer.from(byDigest!.bytes).equals(forged)).toBe(true);
    const byTag = await client.getManifest('latest');
    expect(byTag?.digest).toBe(forgedDigest); // the caller pins this digest, not the header's word
    expect(await client.getManifest('sha256:' + '0'.repeat(64))).toBeUndefined();
  });
});
