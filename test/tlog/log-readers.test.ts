/**
 * Every log reader on a tiled log (issue 34), on a real registry (Debian docker-registry):
 * `gantry log checkpoint|inclusion|consistency` give the same answers as on the same entries
 * stored the old way, and verify; the CLI's tile cache makes a second proof cost fewer
 * requests and an altered cache cannot change an answer; verifyLog checks the bundles against
 * the signed root and names each lie (an entry tag against its bundle, a lying revision
 * pointer, tlog.checkpoint put back, a rewritten bundle); a mirror copies the tiles and
 * pointers and serves the log under the origin's line, tlog.checkpoint only moving forward;
 * lock and monitor read it in O(log n).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';
import { mirrorRepository, OCI_MANIFEST, type ContentBackend } from '../../registry/index.js';
import {
  decodeBase64,
  encodeEntry,
  generateNoteKey,
  leafHash,
  parseSignerKey,
  parseTrustedLogKey,
  rootOf,
  signNote,
  formatCheckpoint,
  tiles,
  verifyConsistency,
  verifyInclusion,
  verifyLog,
  type LogEntry,
} from '../../tlog/index.js';
import { LATEST_CHECKPOINT_TAG, SEQUENCER_TAG } from '../../tlog/log/layout.js';
import { storeTiles } from '../../tlog/log/tiles-store.js';
import { manifestFor } from '../../tlog/log/artifact.js';
import { putArtifactBlobs } from '../../tlog/log/store.js';
import { mapLimited } from '../../tlog/log/read.js';
import { checkpointForLock, verifyLockedCheckpoint } from '../../cli/log-federation.js';
import { monitorRound } from '../../cli/log-monitor.js';
import { checkpointFor, inclusionOf, openLogReader, withLog } from '../../cli/log-reader.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { clientOf, deleteTag } from '../federation/log-attacks.js';
import { growTiledLog, storeLatestCheckpoint, storeRevisionPointer, writeUntiledLog } from './tiled-fixture.js';

let reg: RegistryServer;
let mirror: RegistryServer;
let work: string;
let key: { signerKey: string; verifierKey: string };
let signer: ReturnType<typeof parseSignerKey>;
const gantry = (args: string[]) => gantryIn(packageRoot(), work, args, 60_000);
const verifiers = () => [parseTrustedLogKey(`${reg.host}=${key.verifierKey}`)];

beforeAll(async () => {
  [reg, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  work = mkdtempSync(join(tmpdir(), 'gantry-log-readers-'));
  key = generateNoteKey(reg.host);
  signer = parseSignerKey(key.signerKey);
});
afterAll(async () => {
  await Promise.all([reg?.stop(), mirror?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

const issuer = `A${'B'.repeat(55)}`;
const subject = `V${'C'.repeat(55)}`;

/** Stand-in archives under rev-<r> (verifyLog compares digests) and the entries that log them. */
async function published(b: ContentBackend, from: number, to: number): Promise<LogEntry[]> {
  // one stand-in manifest under every rev tag: verifyLog compares digests, and fewer uploads keep the setup short
  const content = new Uint8Array(Buffer.from('stand-in archive'));
  await putArtifactBlobs(b, content);
  const m = manifestFor('application/vnd.gantry.test.v1', 'application/vnd.gantry.test.v1+text', content, 'archive.txt');
  const revisions = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  return mapLimited(revisions, 8, async (r) => {
    const digest = await b.putManifest(`rev-${r}`, m, OCI_MANIFEST);
    return { revision: r, digest, issuer, subject, capid: 'acme:kv', version: `1.0.${r}` };
  });
}

/** A tiled log of revisions 1..n at repo. */
async function tiledLog(
  host: string,
  repo: string,
  n: number,
  entryTags = true,
): Promise<{ b: ContentBackend; entries: LogEntry[]; note: string }> {
  const b = clientOf(host, repo);
  const entries = await published(b, 1, n);
  const { note } = await growTiledLog(b, signer, [], entries, { entryTags });
  return { b, entries, note };
}

/** A backend that counts the tile manifests it is asked for. */
function counting(inner: ContentBackend): { backend: ContentBackend; tileGets: () => number } {
  let n = 0;
  const backend = Object.assign(Object.create(inner) as ContentBackend, {
    getManifest: (ref: string) => {
      if (/^tlog\.(tile|bundle)\./.test(ref)) n++;
      return inner.getManifest(ref);
    },
  });
  return { backend, tileGets: () => n };
}

const problems = async (b: ContentBackend, trusted?: string) =>
  (await verifyLog(b, { verifiers: verifiers(), ...(trusted ? { trusted } : {}) })).problems.map((p) => p.code);

describe('gantry log on a tiled log', () => {
  // 260 leaves: a full tile and bundle, partial ones after them, and a tile of level 1 (generated as tiles: no entry tags)
  let entries: LogEntry[];
  let b: ContentBackend;
  beforeAll(async () => {
    ({ b, entries } = await tiledLog(reg.host, 'readers/tiled', 260, false));
  }, 120_000);

  it('inclusion and consistency are the same as on the same entries stored the old way, and verify against the signed root', async () => {
    const old = clientOf(reg.host, 'readers/old');
    const root = rootOf(entries.map((e) => leafHash(encodeEntry(e))));
    await writeUntiledLog(old, signer, entries, root);
    const flags = ['--plain-http', '--key', key.verifierKey, '--json'];
    const run = async (repo: string, args: string[]) => {
      const r = await gantry(['log', ...args.slice(0, 1), `${reg.host}/${repo}`, ...args.slice(1), ...flags]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout);
    };
    for (const args of [
      ['inclusion', '--revision', '137'],
      ['inclusion', '--revision', '260'],
      ['consistency', '--from', '100'],
      ['consistency', '--from', '1', '--to', '257'],
      ['consistency', '--from', '3', '--to', '3'],
    ]) {
      expect(await run('readers/tiled', args), args.join(' ')).toEqual(await run('readers/old', args));
    }
    const inc = await run('readers/tiled', ['inclusion', '--revision', '137']);
    expect(inc).toMatchObject({ revision: 137, index: 136, treeSize: 260, digest: entries[136].digest, checkpointVerified: true });
    verifyInclusion(leafHash(encodeEntry(entries[136])), 136, 260, inc.proof.map(decodeBase64), root);
    const cons = await run('readers/tiled', ['consistency', '--from', '1', '--to', '257']);
    verifyConsistency(
      1,
      257,
      cons.proof.map(decodeBase64),
      rootOf(entries.slice(0, 1).map((e) => leafHash(encodeEntry(e)))),
      rootOf(entries.slice(0, 257).map((e) => leafHash(encodeEntry(e)))),
    );
    // the checkpoint printed as stored under tlog.checkpoint, without and with keys
    const cp = await gantry(['log', 'checkpoint', `${reg.host}/readers/tiled`, '--plain-http']);
    expect(cp.stdout.split('\n').slice(0, 2)).toEqual([`${reg.host}/readers/tiled`, '260']);
    expect((await gantry(['log', 'checkpoint', `${reg.host}/readers/tiled`, '--plain-http', '--key', key.verifierKey])).stdout).toBe(
      cp.stdout,
    );
    // a revision not in the log, and sizes out of order, keep their codes
    const missing = await gantry(['log', 'inclusion', `${reg.host}/readers/tiled`, '--revision', '999', ...flags]);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringMatching(/^gantry: TLOG_UNLOGGED_REVISION: /)]);
    const back = await gantry(['log', 'consistency', `${reg.host}/readers/tiled`, '--from', '200', '--to', '100', ...flags]);
    expect([back.code, back.stderr]).toEqual([1, expect.stringMatching(/TLOG_BAD_INDEX/)]);
    // and the full check passes
    const v = await gantry(['log', 'verify', `${reg.host}/readers/tiled`, '--plain-http', '--key', key.verifierKey, '--no-archives']);
    expect([v.code, v.stdout]).toEqual([0, expect.stringMatching(/^ok: .*260 entries, checkpoint of size 260/)]);
  }, 180_000);

  it('a second proof reads its tiles from the cache; an altered cache cannot change the answer', async () => {
    const cacheRoot = join(work, 'tile-cache');
    process.env.GANTRY_TILE_CACHE = cacheRoot;
    try {
      const prove = async () => {
        const c = counting(b);
        const r = await withLog(c.backend, undefined, async (l) => {
          const cp = await checkpointFor(l, verifiers());
          return inclusionOf(l, 200, cp.checkpoint);
        });
        return { index: r.index, proof: r.proof, tileGets: c.tileGets() };
      };
      const first = await prove();
      const second = await prove();
      expect(first.index).toBe(199);
      expect(first.tileGets).toBeGreaterThan(0);
      expect(second.tileGets).toBeLessThan(first.tileGets);
      expect(second.proof).toEqual(first.proof);
      // every cached tile altered: the answer stays the registry's, and the cache is rewritten with the genuine tiles
      const files: string[] = [];
      const walk = (d: string) => {
        for (const f of readdirSync(d)) statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : files.push(join(d, f));
      };
      walk(cacheRoot);
      expect(files.length).toBeGreaterThan(0);
      const genuine = new Map(files.map((f) => [f, readFileSync(f)]));
      for (const f of files) writeFileSync(f, Buffer.from(readFileSync(f).map((x) => x ^ 1)));
      const healed = await prove();
      expect(healed.proof).toEqual(first.proof);
      for (const [f, bytes] of genuine) expect(readFileSync(f).equals(bytes), f).toBe(true);
      // the CLI uses the same cache: its inclusion proof is the same
      const cli = await gantry([
        'log',
        'inclusion',
        `${reg.host}/readers/tiled`,
        '--revision',
        '200',
        '--plain-http',
        '--key',
        key.verifierKey,
        '--json',
      ]);
      expect(JSON.parse(cli.stdout).proof.map(decodeBase64)).toEqual(first.proof);
      expect(entries[199].revision).toBe(200);
    } finally {
      delete process.env.GANTRY_TILE_CACHE;
    }
  }, 180_000);
});

describe('verifyLog on a tiled log: each lie with its own code', () => {
  it('a good tiled log verifies, with a consistency proof from a trusted checkpoint', async () => {
    const { b, entries, note } = await tiledLog(reg.host, 'verify/good', 20);
    const more = await published(b, 21, 25);
    await growTiledLog(b, signer, entries, more);
    const v = await verifyLog(b, { verifiers: verifiers(), trusted: note });
    expect(v.problems).toEqual([]);
    expect({ ok: v.ok, size: v.size, checkpoint: v.checkpoint?.checkpoint.size, uncheckpointed: v.uncheckpointed }).toEqual({
      ok: true,
      size: 25,
      checkpoint: 25,
      uncheckpointed: 0,
    });
    expect(v.consistencyProof?.length).toBeGreaterThan(0);
  }, 60_000);

  it('an entry tag that disagrees with its bundle is TLOG_TILE_MISMATCH', async () => {
    const { b, entries } = await tiledLog(reg.host, 'verify/entry', 20);
    const { storeEntry } = await import('../../tlog/index.js');
    await storeEntry(b, 5, { ...entries[5], version: 'rewritten' });
    const v = await verifyLog(b, { verifiers: verifiers() });
    expect(v.problems.map((p) => p.code)).toEqual(['TLOG_TILE_MISMATCH']);
    expect(v.problems[0].message).toContain('tlog.entry.5 records revision 6');
  }, 60_000);

  it('a revision pointer to another leaf is TLOG_ENTRY_MALFORMED, as the reader refuses it', async () => {
    const { b, entries } = await tiledLog(reg.host, 'verify/pointer', 20);
    await storeRevisionPointer(b, entries[3], 7);
    expect(await problems(b)).toEqual(['TLOG_ENTRY_MALFORMED']);
    const reader = await openLogReader(b, undefined, false);
    const latest = await reader.latestCheckpoint(verifiers());
    await expect(reader.findRevision(4, latest.checkpoint)).rejects.toMatchObject({ code: 'TLOG_ENTRY_MALFORMED' });
  }, 60_000);

  it('tlog.checkpoint put back to an older checkpoint is TLOG_ROLLBACK', async () => {
    const { b, entries, note } = await tiledLog(reg.host, 'verify/rollback', 20);
    await growTiledLog(b, signer, entries, await published(b, 21, 25));
    await storeLatestCheckpoint(b, 20, note);
    expect(await problems(b)).toEqual(['TLOG_ROLLBACK']);
  }, 60_000);

  it('a bundle rewritten under the signed root is TLOG_TILE_MISMATCH; a fork against a trusted checkpoint TLOG_FORK', async () => {
    const { b, entries } = await tiledLog(reg.host, 'verify/bundle', 20);
    const forged = entries.map((e, i) => (i === 2 ? { ...e, version: 'forged' } : e));
    await storeTiles(b, [
      {
        kind: 'entries',
        path: tiles.bundlePath({ index: 0, width: 20 }),
        id: { index: 0, width: 20 },
        bytes: tiles.encodeBundle(forged.map(encodeEntry)),
      },
    ]);
    expect(await problems(b)).toEqual(['TLOG_TILE_MISMATCH']);
    const other = await tiledLog(reg.host, 'verify/fork', 20);
    const forkRoot = rootOf(forged.map((e) => leafHash(encodeEntry(e))));
    const trusted = signNote(formatCheckpoint({ origin: other.b.description, size: 20, root: forkRoot, extensions: [] }), [signer]);
    expect(await problems(other.b, trusted)).toEqual(['TLOG_FORK']);
  }, 60_000);
});

describe('mirrors, lock and monitor on a tiled log', () => {
  it('a mirror copies tiles, pointers and tlog.checkpoint (last), not the lease, and serves the log under the origin line', async () => {
    const { b, entries } = await tiledLog(reg.host, 'mirror/kv', 20);
    await b.putManifest(SEQUENCER_TAG, (await b.getManifest('rev-1'))!.bytes, OCI_MANIFEST);
    const dst = clientOf(mirror.host, 'cache/kv');
    const order: string[] = [];
    await mirrorRepository(b, dst, { onTag: (t) => order.push(t) });
    expect(order.at(-1)).toBe(LATEST_CHECKPOINT_TAG);
    expect(order).not.toContain(SEQUENCER_TAG);
    expect(order.indexOf('tlog.checkpoint.20')).toBeGreaterThan(order.indexOf('tlog.bundle.0.p.20'));
    const dstTags = await dst.listTags();
    expect(dstTags).toEqual(
      expect.arrayContaining(['tlog.bundle.0.p.20', 'tlog.tile.0.0.p.20', 'tlog.revision.20', LATEST_CHECKPOINT_TAG]),
    );
    const origin = b.description;
    const inc = await gantry([
      'log',
      'inclusion',
      `${mirror.host}/cache/kv`,
      '--origin',
      origin,
      '--revision',
      '7',
      '--plain-http',
      '--key',
      key.verifierKey,
      '--json',
    ]);
    expect(inc.stderr).toBe('');
    expect(JSON.parse(inc.stdout)).toMatchObject({ index: 6, treeSize: 20, digest: entries[6].digest, checkpointVerified: true });
    expect((await verifyLog(dst, { verifiers: verifiers(), origin })).problems).toEqual([]);

    // the origin grows: mirroring again moves tlog.checkpoint forward
    const grown = await growTiledLog(b, signer, entries, await published(b, 21, 25));
    await mirrorRepository(b, dst);
    const reader = await openLogReader(dst, origin, false);
    expect((await reader.latestCheckpoint(verifiers())).checkpoint.size).toBe(25);
    // an origin whose tlog.checkpoint went back is not copied over the mirror's larger one
    await storeLatestCheckpoint(b, 20, (await import('../../tlog/log/tiled.js').then((m) => m.storedNote(b, 'tlog.checkpoint.20')))!);
    await expect(mirrorRepository(b, dst)).rejects.toMatchObject({ code: 'REVISION_EXISTS' });
    expect(grown.size).toBe(25);
  }, 120_000);

  it('lock records the checkpoint from the tiles and verify catches tlog.checkpoint put back', async () => {
    const { b, entries, note } = await tiledLog(reg.host, 'lock/kv', 20);
    const ref = b.description;
    const opts = { plainHttpRegistries: [reg.host] };
    const vkeys = [`${reg.host}=${key.verifierKey}`];
    await growTiledLog(b, signer, entries, await published(b, 21, 24));
    const locked = (await checkpointForLock(ref, opts, 3, entries[2].digest, vkeys))!;
    expect(locked).toMatchObject({ origin: ref, size: 24, index: 2 });
    await expect(checkpointForLock(ref, opts, 3, `sha256:${'f'.repeat(64)}`, vkeys)).rejects.toThrow(/TLOG_TAG_MISMATCH/);
    const e = { revision: 3, digest: entries[2].digest, checkpoint: locked };
    expect(await verifyLockedCheckpoint(ref, opts, e, vkeys)).toBeUndefined();
    // an empty repository has no log to lock
    expect(await checkpointForLock(`${reg.host}/lock/none`, opts, 1, entries[0].digest, vkeys)).toBeUndefined();
    await storeLatestCheckpoint(b, 20, note);
    await deleteTag(reg.host, 'lock/kv', 'tlog.checkpoint.24');
    expect(await verifyLockedCheckpoint(ref, opts, e, vkeys)).toMatch(/^TLOG_ROLLBACK: /);
  }, 60_000);

  it('the monitor compares two registries from their tiles: a lagging mirror agrees, a fork is TLOG_FORK', async () => {
    const { b, entries } = await tiledLog(reg.host, 'monitor/kv', 20);
    const dst = clientOf(mirror.host, 'monitor/kv');
    await mirrorRepository(b, dst);
    await growTiledLog(b, signer, entries, await published(b, 21, 60));
    const origin = b.description;
    const opts = { plainHttpRegistries: [reg.host, mirror.host] };
    const sources = [
      { name: 'origin', ref: origin, origin, opts },
      { name: 'mirror', ref: dst.description, origin, opts },
    ];
    const state = { version: 1 as const, logs: {}, sources: {} };
    const agree = await monitorRound(sources, verifiers(), state);
    expect([agree.findings, agree.unreachable]).toEqual([[], []]);
    expect(agree.observed.map((o) => o.checkpoint.size)).toEqual([60, 20]);
    // the mirror shows another history of the same origin, signed with the same key
    const forkRepo = clientOf(mirror.host, 'monitor/fork');
    const forkEntries = await published(forkRepo, 1, 20);
    await growTiledLog(
      forkRepo,
      signer,
      [],
      forkEntries.map((e) => ({ ...e, version: 'other' })),
      { origin },
    );
    const forked = await monitorRound([sources[0], { name: 'mirror', ref: forkRepo.description, origin, opts }], verifiers(), state);
    expect(forked.findings.map((f) => [f.code, f.source])).toEqual([['TLOG_FORK', 'mirror']]);
  }, 120_000);
});
