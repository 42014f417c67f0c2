/**
 * verifyLog on a tiled log, each check on its own, in an OCI image-layout directory (the same
 * ContentBackend a registry is, no server: what the mutation run uses; the same lies on a real
 * registry are in log-readers.test.ts). Each lie is named with its own code and only that code.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageLayoutBackend, OCI_MANIFEST } from '../../registry/index.js';
import {
  encodeEntry,
  formatCheckpoint,
  generateNoteKey,
  leafHash,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  signNote,
  storeCheckpointNote,
  storeEntry,
  tiles,
  verifyLog,
  type LogEntry,
} from '../../tlog/index.js';
import { manifestFor } from '../../tlog/log/artifact.js';
import { putArtifactBlobs } from '../../tlog/log/store.js';
import { storeTiles } from '../../tlog/log/tiles-store.js';
import { isTiledLog } from '../../tlog/log/verify-tiles.js';
import { growTiledLog, storeLatestCheckpoint, storeRevisionPointer, writeUntiledLog } from './tiled-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-verify-tiles-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const layout = () => new ImageLayoutBackend(join(root, `repo-${n++}`));
const keys = generateNoteKey('gantry-test-log');
const signer = parseSignerKey(keys.signerKey);
const verifier = parseVerifierKey(keys.verifierKey);

async function publish(b: ImageLayoutBackend, r: number): Promise<LogEntry> {
  const content = new Uint8Array(Buffer.from(`archive ${r}`));
  await putArtifactBlobs(b, content);
  const digest = await b.putManifest(
    `rev-${r}`,
    manifestFor('application/x.test', 'application/x.test+text', content, 'a.txt'),
    OCI_MANIFEST,
  );
  return { revision: r, digest, issuer: `A${'B'.repeat(55)}`, subject: `V${'C'.repeat(55)}`, capid: 'acme:kv', version: `1.0.${r}` };
}

async function tiled(count: number, opts: { entryTags?: boolean } = {}) {
  const b = layout();
  const entries: LogEntry[] = [];
  for (let r = 1; r <= count; r++) entries.push(await publish(b, r));
  const written = await growTiledLog(b, signer, [], entries, opts);
  return { b, entries, ...written };
}

const verify = (b: ImageLayoutBackend, trusted?: string) => verifyLog(b, { verifiers: [verifier], ...(trusted ? { trusted } : {}) });
const codes = async (b: ImageLayoutBackend, trusted?: string) => (await verify(b, trusted)).problems.map((p) => p.code);

describe('verifyLog on a tiled log', () => {
  it('a log is tiled once it has tlog.checkpoint', () => {
    expect(isTiledLog(['rev-1', 'tlog.checkpoint.1', 'tlog.checkpoint'])).toBe(true);
    expect(isTiledLog(['rev-1', 'tlog.checkpoint.1', 'tlog.bundle.0.p.1'])).toBe(false);
  });

  it('a good log: its size, its checkpoint, nothing uncheckpointed, the consistency proof from a trusted checkpoint', async () => {
    const { b, entries, note } = await tiled(3);
    const more = [await publish(b, 4), await publish(b, 5)];
    await growTiledLog(b, signer, entries, more);
    const v = await verify(b, note);
    expect(v.problems).toEqual([]);
    expect({ ok: v.ok, size: v.size, cp: v.checkpoint?.checkpoint.size, un: v.uncheckpointed, origin: v.origin }).toEqual({
      ok: true,
      size: 5,
      cp: 5,
      un: 0,
      origin: b.description,
    });
    expect(v.consistencyProof?.length).toBeGreaterThan(0);
  });

  it('generated as tiles (no entry tags) it verifies the same', async () => {
    const { b } = await tiled(4, { entryTags: false });
    const v = await verify(b);
    expect([v.ok, v.size, v.problems]).toEqual([true, 4, []]);
  });

  it('entries after the checkpoint are uncheckpointed; entry tags after a gap are TLOG_ENTRY_MISSING', async () => {
    const { b } = await tiled(3);
    await storeEntry(b, 3, await publish(b, 4));
    await storeEntry(b, 6, await publish(b, 7));
    const v = await verify(b);
    expect([v.size, v.uncheckpointed, v.checkpoint?.checkpoint.size]).toEqual([4, 1, 3]);
    // the entry after the gap is not read: its revision is published but unlogged, as in the untiled log
    expect(v.problems).toEqual([
      { code: 'TLOG_ENTRY_MISSING', message: `${b.description}: tlog.entry.4 is missing but entries 6 exist: an entry was deleted` },
      {
        code: 'TLOG_UNLOGGED_REVISION',
        message: `${b.description}: rev-7 is published but has no log entry; re-push that archive to log it`,
      },
    ]);
  });

  it('an entry tag missing under the checkpoint of a log whose tags start at 0 is TLOG_ENTRY_MISSING', async () => {
    const { b, entries } = await tiled(3, { entryTags: false });
    await storeEntry(b, 0, entries[0]);
    await storeEntry(b, 2, entries[2]);
    const v = await verify(b);
    expect(v.problems).toEqual([
      {
        code: 'TLOG_ENTRY_MISSING',
        message: `${b.description}: the checkpoint covers 3 entries but tlog.entry.1 is missing: an entry tag was deleted`,
      },
    ]);
  });

  it('a revision of the signed tree without its tlog.revision pointer is TLOG_UNLOGGED_REVISION (readers find no entry)', async () => {
    const b = layout();
    const entries = [await publish(b, 1), await publish(b, 2)];
    await growTiledLog(b, signer, [], entries, { pointers: false });
    await storeRevisionPointer(b, entries[0], 0);
    const v = await verify(b);
    expect(v.problems).toEqual([
      {
        code: 'TLOG_UNLOGGED_REVISION',
        message: `${b.description}: revision 2 is leaf 1 of the signed tree but tlog.revision.2 is missing: readers find no entry for it`,
      },
    ]);
  });

  it('entry tags of a log generated as tiles start after the checkpoint', async () => {
    const { b } = await tiled(3, { entryTags: false });
    await storeEntry(b, 3, await publish(b, 4));
    const v = await verify(b);
    expect([v.size, v.uncheckpointed, v.problems]).toEqual([4, 1, []]);
  });

  it('an entry tag that disagrees with its bundle is TLOG_TILE_MISMATCH naming both', async () => {
    const { b, entries } = await tiled(3);
    await storeEntry(b, 1, { ...entries[1], version: 'rewritten' });
    const v = await verify(b);
    expect(v.problems).toEqual([
      {
        code: 'TLOG_TILE_MISMATCH',
        message: `${b.description}: tlog.entry.1 records revision 2 as ${entries[1].digest}, the signed entry bundle records revision 2 as ${entries[1].digest}`,
      },
    ]);
  });

  it('a revision pointer to another leaf, past the log, or holding another entry is TLOG_ENTRY_MALFORMED', async () => {
    const { b, entries } = await tiled(3);
    await storeRevisionPointer(b, entries[0], 2);
    let v = await verify(b);
    expect(v.problems).toEqual([
      {
        code: 'TLOG_ENTRY_MALFORMED',
        message: `${b.description}:tlog.revision.1 points at leaf 2, which logs revision 3 as ${entries[2].digest}, not the entry it holds for revision 1: a lying revision pointer`,
      },
    ]);
    await storeRevisionPointer(b, entries[0], 9);
    v = await verify(b);
    expect(v.problems.map((p) => p.message)).toEqual([
      `${b.description}:tlog.revision.1 points at leaf 9, which the log does not have, not the entry it holds for revision 1: a lying revision pointer`,
    ]);
    await storeRevisionPointer(b, { ...entries[0], version: 'other' }, 0);
    expect(await codes(b)).toEqual(['TLOG_ENTRY_MALFORMED']);
    await storeRevisionPointer(b, entries[0], 0);
    expect(await codes(b)).toEqual([]);
  });

  it('a pointer that is not an entry manifest is named with its tag', async () => {
    const { b } = await tiled(2);
    await b.putManifest('tlog.revision.1', new Uint8Array(Buffer.from('{ not json')), OCI_MANIFEST);
    const v = await verify(b);
    expect(v.problems.map((p) => [p.code, p.message.startsWith(`${b.description}:tlog.revision.1`)])).toEqual([
      ['TLOG_ENTRY_MALFORMED', true],
    ]);
  });

  it('tlog.checkpoint put back under a larger tlog.checkpoint.<n> is TLOG_ROLLBACK', async () => {
    const { b, entries, note } = await tiled(3);
    await growTiledLog(b, signer, entries, [await publish(b, 4)]);
    await storeLatestCheckpoint(b, 3, note);
    const v = await verify(b);
    expect(v.problems).toEqual([
      {
        code: 'TLOG_ROLLBACK',
        message: `tlog.checkpoint.4: ${b.description}: tlog.checkpoint serves the checkpoint of size 3, older than tlog.checkpoint.4: the latest checkpoint was put back`,
      },
    ]);
  });

  it('a checkpoint tag signing another root at its size is TLOG_ROOT_MISMATCH; an older note under it TLOG_ROLLBACK', async () => {
    const { b, entries } = await tiled(3);
    const leaves = entries.map((e) => leafHash(encodeEntry(e)));
    await growTiledLog(b, signer, entries, [await publish(b, 4)]);
    const other = signNote(formatCheckpoint({ origin: b.description, size: 2, root: rootOf(leaves.slice(1, 3)), extensions: [] }), [
      signer,
    ]);
    await storeCheckpointNote(b, 2, other);
    const v = await verify(b);
    expect(v.problems.map((p) => p.code)).toEqual(['TLOG_ROOT_MISMATCH']);
    expect(v.problems[0].message.startsWith(`tlog.checkpoint.2: ${b.description}: the tree of the latest checkpoint has root `)).toBe(true);
    const one = signNote(formatCheckpoint({ origin: b.description, size: 1, root: rootOf(leaves, 1), extensions: [] }), [signer]);
    await storeCheckpointNote(b, 2, one);
    expect(await codes(b)).toEqual(['TLOG_ROLLBACK']);
  });

  it('a bundle rewritten under the signed root is TLOG_TILE_MISMATCH; the entry tags are still checked against the tags', async () => {
    const { b, entries } = await tiled(3);
    const forged = entries.map((e, i) => (i === 1 ? { ...e, version: 'forged' } : e));
    await storeTiles(b, [
      {
        kind: 'entries',
        path: tiles.bundlePath({ index: 0, width: 3 }),
        id: { index: 0, width: 3 },
        bytes: tiles.encodeBundle(forged.map(encodeEntry)),
      },
    ]);
    const v = await verify(b);
    expect(v.problems.map((p) => p.code)).toEqual(['TLOG_TILE_MISMATCH']);
    expect(v.checkpoint).toBeUndefined();
  });

  it('a latest checkpoint by another key is one TLOG_NOTE_UNVERIFIED per tag; against a trusted one TLOG_ROLLBACK', async () => {
    const { b, entries, note } = await tiled(2);
    const otherSigner = parseSignerKey(generateNoteKey('gantry-test-log').signerKey);
    const leaves = entries.map((e) => leafHash(encodeEntry(e)));
    const foreign = signNote(formatCheckpoint({ origin: b.description, size: 2, root: rootOf(leaves), extensions: [] }), [otherSigner]);
    await storeLatestCheckpoint(b, 2, foreign);
    const v = await verify(b, note);
    expect(v.problems.map((p) => p.code)).toEqual(['TLOG_NOTE_UNVERIFIED', 'TLOG_ROLLBACK']);
    expect(v.problems[0].message.startsWith('tlog.checkpoint.2: ')).toBe(true);
  });

  it('a tlog.checkpoint that is not a checkpoint is its own problem, prefixed with the tag; nothing is counted as checkpointed', async () => {
    const { b } = await tiled(2);
    const entry = (await b.getManifest('tlog.entry.0'))!;
    await b.putManifest('tlog.checkpoint', entry.bytes, OCI_MANIFEST);
    const v = await verify(b);
    expect(v.problems.map((p) => [p.code, p.message.startsWith('tlog.checkpoint: ')])).toEqual([['TLOG_CHECKPOINT_MALFORMED', true]]);
    expect([v.checkpoint, v.uncheckpointed, v.size]).toEqual([undefined, 0, 2]);
  });

  it('a checkpoint tag serving a larger tree than its name is TLOG_CHECKPOINT_MALFORMED, an older one TLOG_ROLLBACK', async () => {
    const { b, note } = await tiled(3);
    await storeCheckpointNote(b, 2, note);
    const v = await verify(b);
    expect(v.problems).toEqual([
      {
        code: 'TLOG_CHECKPOINT_MALFORMED',
        message: `tlog.checkpoint.2: ${b.description}:tlog.checkpoint.2 serves the checkpoint of size 3`,
      },
    ]);
  });

  it('a pointer whose index is not canonical decimal is a lying pointer', async () => {
    const { b, entries } = await tiled(2);
    const content = encodeEntry(entries[1]);
    const m = manifestFor('application/vnd.gantry.log.entry.v1', 'application/vnd.gantry.log.entry.v1+text', content, 'entry-1.txt', {
      'dev.gantry.log.index': '01',
    });
    await b.putManifest('tlog.revision.2', m, OCI_MANIFEST);
    expect((await verify(b)).problems.map((p) => p.message)).toEqual([
      `${b.description}:tlog.revision.2 points at leaf 01, which the log does not have, not the entry it holds for revision 2: a lying revision pointer`,
    ]);
  });

  it('a fork against a trusted checkpoint is TLOG_FORK, prefixed', async () => {
    const { b, entries } = await tiled(3);
    const leaves = entries.map((e) => leafHash(encodeEntry(e)));
    const fork = signNote(formatCheckpoint({ origin: b.description, size: 2, root: rootOf([leaves[1], leaves[0]]), extensions: [] }), [
      signer,
    ]);
    const v = await verify(b, fork);
    expect(v.problems.map((p) => [p.code, p.message.startsWith('against the trusted checkpoint: ')])).toEqual([['TLOG_FORK', true]]);
  });
});

describe('verifyLog on a log written before tiles (read the old way)', () => {
  it('the same entries untiled verify, and an entry rewritten after its checkpoint is still TLOG_ROOT_MISMATCH', async () => {
    const b = layout();
    const entries: LogEntry[] = [];
    for (let r = 1; r <= 3; r++) entries.push(await publish(b, r));
    await writeUntiledLog(b, signer, entries, rootOf(entries.map((e) => leafHash(encodeEntry(e)))));
    expect(isTiledLog(await b.listTags())).toBe(false);
    const v = await verify(b);
    expect([v.ok, v.size, v.checkpoint?.checkpoint.size, v.problems]).toEqual([true, 3, 3, []]);
    await storeEntry(b, 1, { ...entries[1], version: 'rewritten' });
    expect(await codes(b)).toEqual(['TLOG_ROOT_MISMATCH']);
  });
});
