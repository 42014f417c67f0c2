/**
 * What `DistributionClient.getManifest` asks a registry for, against a registry that checks:
 * a pull token scoped to the repository (a token server grants by scope), every manifest type
 * Gantry reads in Accept (a registry serves only types the client accepts), a retry after a
 * passing 503, and a refusal that names the reference. The digest check itself is in
 * lying-registry.test.ts. Served from the test itself over loopback HTTP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../registry/digest.js';
import { DistributionClient } from '../../registry/distribution/client.js';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../../registry/index.js';

const body = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(Buffer.from('{}')), size: 2 },
    layers: [],
  }),
);
const digest = sha256Digest(body);

let server: Server;
let host: string;
/** the scopes the token endpoint was asked for */
const scopes: string[] = [];
/** how often each reference was asked for */
const asked = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/token') {
      const scope = url.searchParams.get('scope') ?? '';
      scopes.push(scope);
      // like a real token server: a pull token for exactly this repository, nothing else
      if (scope !== 'repository:acme/kv:pull') return void res.writeHead(403).end();
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token: 'pull-acme-kv', expires_in: 300 }));
    }
    if (req.headers.authorization !== 'Bearer pull-acme-kv') {
      return void res
        .writeHead(401, { 'www-authenticate': `Bearer realm="http://${host}/token",service="test",scope="repository:acme/kv:pull"` })
        .end();
    }
    if (url.pathname === '/v2/') return void res.writeHead(200).end();
    const m = /^\/v2\/acme\/kv\/manifests\/(.+)$/.exec(url.pathname);
    if (!m) return void res.writeHead(404).end();
    const ref = decodeURIComponent(m[1]);
    asked.set(ref, (asked.get(ref) ?? 0) + 1);
    // serves the manifest only to a client that accepts its type (and the index and Docker types Gantry reads)
    const accept = (req.headers.accept ?? '').split(',').map((s) => s.trim());
    if (![OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST].every((t) => accept.includes(t))) return void res.writeHead(406).end();
    if (ref === 'flaky' && asked.get(ref) === 1) return void res.writeHead(503).end();
    if (ref === 'forbidden')
      return void res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(JSON.stringify({ errors: [{ code: 'DENIED', message: 'no pull for you' }] }));
    if (ref !== 'v1' && ref !== 'flaky' && ref !== digest) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': `${OCI_MANIFEST}; charset=utf-8` }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server?.close(r));
});

const client = () => new DistributionClient(host, 'acme/kv', { plainHttpHosts: [host] });

describe('getManifest', () => {
  it('asks for a pull token for its repository, accepts every manifest type Gantry reads, and answers bytes, digest and media type', async () => {
    const before = scopes.length;
    const got = await client().getManifest(digest);
    expect(scopes.slice(before)).toEqual(['repository:acme/kv:pull']);
    expect(Buffer.from(got!.bytes).equals(body)).toBe(true);
    expect(got!.digest).toBe(digest);
    expect(got!.mediaType).toBe(OCI_MANIFEST);
  });

  it('asks again after a passing 503', async () => {
    const got = await client().getManifest('flaky');
    expect(got?.digest).toBe(digest);
    expect(asked.get('flaky')).toBe(2);
  });

  it('answers undefined for a manifest the registry does not have', async () => {
    expect(await client().getManifest('sha256:' + '0'.repeat(64))).toBeUndefined();
  });

  it('a refusal names the reference and what the registry said', async () => {
    const err = await client()
      .getManifest('forbidden')
      .then(
        () => undefined,
        (e: Error & { code?: string }) => e,
      );
    expect(err?.message).toContain('get manifest forbidden');
    expect(err?.message).toContain('no pull for you');
  });
});
