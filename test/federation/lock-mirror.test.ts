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
import { gantryIn } from '../support/gantry-cli.js';
import { publicKeyFromSeed } from '../../par/index.js';
import { encodeEntry, generateNoteKey, openLog, tiles } from '../../tlog/index.js';
import { storeTiles } from '../../tlog/log/tiles-store.js';
import { clientOf, forgeCheckpoint, rollbackTo, signWhatIsStored, signerOf, storeAlteredEntry } from './log-attacks.js';

let origin: RegistryServer;
let mirror: RegistryServer;
let work: string;
let signer: Signer;
const logKey = generateNoteKey('gantry-fed-test');
/** the log key, trusted for the origin registry's repositories only (tlog/origin-keys.ts) */
const originKey = () => `${origin.host}=${logKey.verifierKey}`;
const keyFile = () => join(work, 'log.key');
// Δ of the append (docs/transparency.md): the registry here shares two cores with the whole
// suite, where a tag write has been seen to take 1.3 s; the pushes' concurrency is test/tlog's
const DELTA_MS = '4000';
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
  writeFileSync(keyFile(), logKey.signerKey + '\n', { mode: 0o600 });
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
    writeFileSync(
      join(project, 'providers.yaml'),
      [
        'apiVersion: gantry.dev/v1alpha1',
        'kind: Provider',
        'metadata: { name: pinned }',
        `spec: { archive: { ref: "${ref}", revision: 1 } }`,
        '---',
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata: { name: other }',
        '---',
        'apiVersion: gantry.dev/v1alpha1',
        'kind: Provider',
        'metadata: { name: latest }',
        'spec: { archive: { ref: "short/kv" } }',
      ].join('\n'),
    );
    writeFileSync(
      join(project, 'gantry.namespaces.yaml'),
      `namespaces:\n  short/*: { registry: "${origin.host}/lock", plainHttp: true }\n`,
    );
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
    writeFileSync(
      join(project, 'more.yaml'),
      `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: { name: added }\nspec: { archive: { ref: "${ref}" } }\n`,
    );
    const stale = await gantry(['lock', 'verify', project, '--plain-http']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/Provider added is not in gantry\.lock/);
  });

  it('with a log key the lock records the checkpoint that included each revision, and verify catches a rolled-back log', async () => {
    const ref = `${origin.host}/lock/logged`;
    expect(
      (await gantry(['par', 'push', join(work, 'r1.par'), ref, '--plain-http', '--log-key', keyFile(), '--log-delta-ms', DELTA_MS])).code,
    ).toBe(0);
    const project = join(work, 'lockedlog');
    mkdirSync(project);
    writeFileSync(
      join(project, 'p.yaml'),
      `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: { name: kv }\nspec: { archive: { ref: "${ref}", revision: 1 } }\n`,
    );
    const locked = await gantry(['lock', project, '--plain-http', '--key', originKey()]);
    expect(locked.code, locked.stderr).toBe(0);
    const entry = JSON.parse(readFileSync(join(project, 'gantry.lock'), 'utf8')).providers[0];
    expect(entry.checkpoint).toMatchObject({
      origin: ref,
      size: 1,
      index: 0,
      note: expect.stringMatching(/^127\.0\.0\.1:\d+\/lock\/logged\n1\n/),
    });
    // a later push extends the log: still verified
    expect(
      (await gantry(['par', 'push', join(work, 'r2.par'), ref, '--plain-http', '--log-key', keyFile(), '--log-delta-ms', DELTA_MS])).code,
    ).toBe(0);
    expect((await gantry(['lock', 'verify', project, '--plain-http', '--key', originKey()])).code).toBe(0);
    // without the key the recorded checkpoint cannot be checked: that is a failure, not a pass
    const nokey = await gantry(['lock', 'verify', project, '--plain-http']);
    expect(nokey.code).toBe(1);
    expect(nokey.stderr).toMatch(/no log key/);
    // the registry cuts the log back below the locked checkpoint
    await rollbackTo(origin.host, 'lock/logged', 0);
    const r = await gantry(['lock', 'verify', project, '--plain-http', '--key', originKey()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/TLOG_NO_LOG|TLOG_ROLLBACK/);
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
  it("with the origin's key, a log that does not verify is not mirrored at all", async () => {
    const ref = `${origin.host}/mirror3/kv`;
    expect(
      (await gantry(['par', 'push', join(work, 'r1.par'), ref, '--plain-http', '--log-key', keyFile(), '--log-delta-ms', DELTA_MS])).code,
    ).toBe(0);
    await forgeCheckpoint(origin.host, 'mirror3/kv');
    const r = await gantry(['par', 'mirror', ref, `${mirror.host}/cache3/kv`, '--plain-http', '--key', originKey()]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not verify, not mirroring it[\s\S]*TLOG_NOTE_BAD_SIGNATURE/);
    expect(await clientOf(mirror.host, 'cache3/kv').listTags()).toEqual([]);
  });

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
  it('copies every tag and the log byte for byte; the mirror serves a verified pull while the origin is stopped, and cannot lie', async () => {
    const ref = `${origin.host}/mirror/kv`;
    for (const r of [1, 2])
      expect(
        (await gantry(['par', 'push', join(work, `r${r}.par`), ref, '--plain-http', '--log-key', keyFile(), '--log-delta-ms', DELTA_MS]))
          .code,
      ).toBe(0);
    const dst = `${mirror.host}/cache/kv`;
    const m = await gantry(['par', 'mirror', ref, dst, '--plain-http', '--key', originKey(), '--json']);
    expect(m.code, m.stderr).toBe(0);
    const report = JSON.parse(m.stdout);
    const srcTags = (await clientOf(origin.host, 'mirror/kv').listTags()).sort();
    expect(srcTags).toEqual(expect.arrayContaining(['rev-1', 'rev-2', 'tlog.entry.0', 'tlog.entry.1', 'tlog.checkpoint.2']));
    expect(report).toMatchObject({ source: ref, mirror: dst, tags: srcTags.length, copiedTags: srcTags.length, log: { size: 2 } });
    expect((await clientOf(mirror.host, 'cache/kv').listTags()).sort()).toEqual(srcTags);
    // a second run writes nothing
    const again = JSON.parse((await gantry(['par', 'mirror', ref, dst, '--plain-http', '--json'])).stdout);
    expect(again.copiedTags).toBe(0);

    const originDigests = (await openArchiveStore(ref, { plainHttpRegistries: [origin.host] }).revisions()).map((r) => r.digest);
    // the origin goes away (last test of the file: nothing after needs it)
    await origin.stop();
    originStopped = true;
    const viaFlag = await gantry([
      'par',
      'pull',
      ref,
      '--via',
      dst,
      '--key',
      originKey(),
      '--plain-http',
      '--trusted-issuer',
      signer.issuer,
      '--json',
      '-o',
      join(work, 'via-mirror.par'),
    ]);
    expect(viaFlag.code, viaFlag.stderr).toBe(0);
    expect(JSON.parse(viaFlag.stdout)).toMatchObject({ revision: 2, digest: originDigests[1] });
    // the same through the namespace mapping: a short name, the origin's key, the mirror's bytes
    const project = join(work, 'viaproject');
    mkdirSync(project);
    writeFileSync(
      join(project, 'gantry.namespaces.yaml'),
      `namespaces:\n  acme/*: { registry: "${origin.host}/mirror", via: "${mirror.host}/cache", plainHttp: true, logKey: "${logKey.verifierKey}" }\n`,
    );
    const mapped = await gantryIn(project, work, [
      'par',
      'pull',
      'acme/kv',
      '--revision',
      '1',
      '--trusted-issuer',
      signer.issuer,
      '--json',
      '-o',
      join(work, 'mapped.par'),
    ]);
    expect(mapped.code, mapped.stderr).toBe(0);
    expect(JSON.parse(mapped.stdout).digest).toBe(originDigests[0]);
    // without the origin's key a mirror could serve anything: refused as usage
    expect((await gantry(['par', 'pull', ref, '--via', dst, '--plain-http'])).code).toBe(2);

    // the mirror re-points rev-2 at revision 1's bytes: the origin's log says otherwise
    const dstClient = clientOf(mirror.host, 'cache/kv');
    const rev1 = (await dstClient.getManifest('rev-1'))!;
    await dstClient.putManifest('rev-2', rev1.bytes, rev1.mediaType!);
    const repointed = await gantry([
      'par',
      'pull',
      ref,
      '--via',
      dst,
      '--key',
      originKey(),
      '--plain-http',
      '--revision',
      '2',
      '-o',
      join(work, 'x.par'),
    ]);
    expect(repointed.code).toBe(1);
    expect(repointed.stderr).toMatch(/TLOG_TAG_MISMATCH: .*rev-2 names /);
    // and rewrites its copy of the log to match: without the origin's key it cannot re-sign it.
    // The entry tag alone is not what a reader of the tiled log trusts: the signed bundles still say otherwise
    const altered = {
      revision: 2,
      digest: rev1.digest,
      issuer: signer.issuer,
      subject: publicKeyFromSeed(signer.subjectSeed),
      capid: 'examples:payments',
      version: '0.1.0',
    };
    await storeAlteredEntry(mirror.host, 'cache/kv', 1, altered);
    const pullRev2 = () =>
      gantry(['par', 'pull', ref, '--via', dst, '--key', originKey(), '--plain-http', '--revision', '2', '-o', join(work, 'x.par')]);
    const rewritten = await pullRev2();
    expect(rewritten.code).toBe(1);
    expect(rewritten.stderr).toMatch(/TLOG_TAG_MISMATCH: .*rev-2 names /);
    // the bundle rewritten too: it no longer hashes to the origin's signed root
    const first = (await openLog(clientOf(mirror.host, 'cache/kv'))).entries[0];
    await storeTiles(dstClient, [
      {
        kind: 'entries',
        path: tiles.bundlePath({ index: 0, width: 2 }),
        id: { index: 0, width: 2 },
        bytes: tiles.encodeBundle([encodeEntry(first), encodeEntry(altered)]),
      },
    ]);
    // (the genuine bundle cached by the pulls before is what the CLI would read: read the mirror's own)
    process.env.GANTRY_TILE_CACHE = 'off';
    const rebundled = await pullRev2().finally(() => delete process.env.GANTRY_TILE_CACHE);
    expect(rebundled.code).toBe(1);
    expect(rebundled.stderr).toMatch(/TLOG_TILE_MISMATCH/);
    // and signs the rewritten log with a key of its own: not the origin's
    const own = generateNoteKey('mirror-own-key');
    await signWhatIsStored(dstClient, signerOf(own.signerKey), ref);
    const ownSigned = await gantry([
      'par',
      'pull',
      ref,
      '--via',
      dst,
      '--key',
      originKey(),
      '--plain-http',
      '--revision',
      '2',
      '-o',
      join(work, 'x.par'),
    ]);
    expect(ownSigned.code).toBe(1);
    expect(ownSigned.stderr).toMatch(/TLOG_NOTE_UNVERIFIED/);
  }, 180_000);
});
