/**
 * Lock files and mirrors against real registries (docker-registry on loopback), through the
 * built CLI: a lock round-trips and catches a moved revision; a mirror copies every tag byte
 * for byte, serves a verified pull while the origin is stopped, and refuses to overwrite a tag
 * that disagrees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DistributionClient, openArchiveStore } from '../../registry/index.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner, type Signer } from '../registry/fixtures.js';
import { gantryIn } from './cli.js';

let origin: RegistryServer;
let mirror: RegistryServer;
let work: string;
let signer: Signer;
const gantry = (args: string[], cwd = work) => gantryIn(cwd, work, args);

/** Re-points `tag` of host/repo at the manifest `digest` of host/from (blobs copied first), as an attacker with write access would. */
async function repoint(host: string, from: string, repo: string, tag: string, digest: string): Promise<void> {
  const a = new DistributionClient(host, from, { plainHttpHosts: [host] });
  const b = new DistributionClient(host, repo, { plainHttpHosts: [host] });
  const m = (await a.getManifest(digest))!;
  const doc = JSON.parse(Buffer.from(m.bytes).toString('utf8'));
  for (const d of [doc.config.digest, ...doc.layers.map((l: any) => l.digest)]) await b.putBlob(d, await a.getBlob(d));
  await b.putManifest(tag, m.bytes, m.mediaType ?? doc.mediaType);
}

beforeAll(async () => {
  origin = await startRegistry();
  mirror = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'gantry-fed-'));
  signer = newSigner();
  for (const r of [1, 2]) writeFileSync(join(work, `r${r}.par`), await makeArchive(signer, r));
});
let originStopped = false;
afterAll(async () => {
  if (!originStopped) await origin?.stop();
  await mirror?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('gantry lock', () => {
  it('locks each Provider to revision and digest, verifies, and catches a moved revision', async () => {
    const ref = `${origin.host}/lock/kv`;
    for (const r of [1, 2]) expect((await gantry(['par', 'push', join(work, `r${r}.par`), ref, '--plain-http'])).code).toBe(0);
    const project = join(work, 'lockproject');
    mkdirSync(project);
    writeFileSync(join(project, 'providers.yaml'), [
      'apiVersion: gantry.dev/v1alpha1', 'kind: Provider', 'metadata: { name: pinned }', `spec: { archive: { ref: "${ref}", revision: 1 } }`,
      '---', 'apiVersion: v1', 'kind: ConfigMap', 'metadata: { name: other }',
      '---', 'apiVersion: gantry.dev/v1alpha1', 'kind: Provider', 'metadata: { name: latest }', 'spec: { archive: { ref: "short/kv" } }',
    ].join('\n'));
    writeFileSync(join(project, 'gantry.namespaces.yaml'), `namespaces:\n  short/*: { registry: "${origin.host}/lock", plainHttp: true }\n`);
    const locked = await gantry(['lock', project, '--plain-http', '--json']);
    expect(locked.code, locked.stderr).toBe(0);
    const lock = JSON.parse(readFileSync(join(project, 'gantry.lock'), 'utf8'));
    const digests = (await openArchiveStore(ref, { plainHttpRegistries: [origin.host] }).revisions()).map((r) => r.digest);
    expect(lock).toMatchObject({
      lockVersion: 1,
      providers: [
        { provider: 'pinned', file: 'providers.yaml', ref, repository: ref, revision: 1, digest: digests[0] },
        { provider: 'latest', ref: 'short/kv', repository: ref, revision: 2, digest: digests[1] },
      ],
    });
    expect(JSON.parse(locked.stdout)).toEqual(lock);

    const ok = await gantry(['lock', 'verify', project, '--plain-http']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/2 Provider\(s\) verified/);

    // rev-1 re-pointed at revision 2's bytes: the lock catches it, naming both digests
    await repoint(origin.host, 'lock/kv', 'lock/kv', 'rev-1', digests[1]);
    const moved = await gantry(['lock', 'verify', project, '--plain-http']);
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(/REVISION_MOVED: .*lock\/kv revision 1 now names sha256:/);
    expect(moved.stderr).toContain(digests[0]);
    expect(moved.stderr).toContain(digests[1]);

    // a Provider added after locking is a stale lock, not silently accepted
    writeFileSync(join(project, 'more.yaml'), `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: { name: added }\nspec: { archive: { ref: "${ref}" } }\n`);
    const stale = await gantry(['lock', 'verify', project, '--plain-http']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/Provider added is not in gantry\.lock/);
  });

  it('verify without a lock file, or with a broken one, is a usage error (2)', async () => {
    const empty = join(work, 'nolock');
    mkdirSync(empty);
    expect((await gantry(['lock', 'verify', empty])).code).toBe(2);
    writeFileSync(join(empty, 'gantry.lock'), '{"lockVersion": 9}');
    const r = await gantry(['lock', 'verify', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a gantry\.lock/);
  });
});

describe('gantry par mirror', () => {
  it('a mirror whose tag disagrees with the origin is not overwritten (REVISION_EXISTS)', async () => {
    const ref = `${origin.host}/mirror2/kv`;
    for (const r of [1, 2]) expect((await gantry(['par', 'push', join(work, `r${r}.par`), ref, '--plain-http'])).code).toBe(0);
    const dst = `${mirror.host}/cache2/kv`;
    expect((await gantry(['par', 'mirror', ref, dst, '--plain-http'])).code).toBe(0);
    const digests = (await openArchiveStore(dst, { plainHttpRegistries: [mirror.host] }).revisions()).map((r) => r.digest);
    await repoint(mirror.host, 'cache2/kv', 'cache2/kv', 'rev-1', digests[1]);
    const r = await gantry(['par', 'mirror', ref, dst, '--plain-http']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/REVISION_EXISTS: .*rev-1/);
  });
  it('copies every tag byte for byte; the mirror serves a verified pull while the origin is stopped', async () => {
    const ref = `${origin.host}/mirror/kv`;
    for (const r of [1, 2]) expect((await gantry(['par', 'push', join(work, `r${r}.par`), ref, '--plain-http'])).code).toBe(0);
    const dst = `${mirror.host}/cache/kv`;
    const m = await gantry(['par', 'mirror', ref, dst, '--plain-http', '--json']);
    expect(m.code, m.stderr).toBe(0);
    const report = JSON.parse(m.stdout);
    const srcTags = (await new DistributionClient(origin.host, 'mirror/kv', { plainHttpHosts: [origin.host] }).listTags()).sort();
    expect(report).toMatchObject({ source: ref, mirror: dst, tags: srcTags.length, copiedTags: srcTags.length });
    const dstTags = (await new DistributionClient(mirror.host, 'cache/kv', { plainHttpHosts: [mirror.host] }).listTags()).sort();
    expect(dstTags).toEqual(srcTags);
    // a second run writes nothing
    const again = JSON.parse((await gantry(['par', 'mirror', ref, dst, '--plain-http', '--json'])).stdout);
    expect(again.copiedTags).toBe(0);

    const originDigests = (await openArchiveStore(ref, { plainHttpRegistries: [origin.host] }).revisions()).map((r) => r.digest);
    // the origin goes away (last test of the file: nothing after needs it)
    await origin.stop();
    originStopped = true;
    const pulled = await gantry(['par', 'pull', dst, '--plain-http', '--revision', '2', '--trusted-issuer', signer.issuer, '--json', '-o', join(work, 'via-mirror.par')]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout).digest).toBe(originDigests[1]);
  });

});
