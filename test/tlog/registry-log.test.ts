/**
 * The log stored in a real registry (Debian docker-registry, no referrers API), through the
 * library: appends give checkpoints whose proofs verify and that extend each other; concurrent
 * appenders in one process all keep their entries (Fischer claims); a log signed by another key
 * is never extended; a revision logged with another digest is refused; and each way of
 * tampering with the stored log (a rewritten, moved or deleted entry, a foreign or older
 * checkpoint, a second entry for one revision) is reported by verifyLog with its own code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArchiveStore, openContentBackend } from '../../registry/index.js';
import {
  appendToLog,
  generateNoteKey,
  isTlogError,
  openLog,
  parseSignerKey,
  parseVerifierKey,
  storeCheckpointNote,
  storeEntry,
  checkpointLog,
  verifyConsistency,
  verifyInclusion,
  verifyLog,
  type TlogErrorCode,
  logEntryOf,
  encodeEntry,
  storeTiles,
  tiles,
} from '../../tlog/index.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner } from '../registry/fixtures.js';

let reg: RegistryServer;
beforeAll(async () => {
  reg = await startRegistry();
});
afterAll(async () => {
  await reg?.stop();
});

const keys = generateNoteKey('gantry-test-log');
const signer = parseSignerKey(keys.signerKey);
const verifier = parseVerifierKey(keys.verifierKey);
const timing = { deltaMs: 1000, waitMs: 1500 }; // the defaults: a loaded test machine needs them

async function codeOf(p: Promise<unknown>): Promise<TlogErrorCode | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (isTlogError(e)) return e.code;
    throw e;
  }
}

describe('a repository log in a distribution registry', () => {
  it('three appends: every checkpoint verifies, proofs verify, each checkpoint extends the last', async () => {
    const ref = `${reg.host}/tlog/three`;
    const opts = { plainHttpRegistries: [reg.host] };
    const store = openArchiveStore(ref, opts);
    const backend = openContentBackend(ref, opts);
    const s = newSigner();
    const notes: string[] = [];
    for (const r of [1, 2, 3]) {
      const pushed = await store.push(await makeArchive(s, r));
      const res = await appendToLog(backend, logEntryOf(pushed), { signer, ...timing });
      expect(res).toMatchObject({ index: r - 1, appended: true, contended: 0 });
      notes.push(res.checkpoint.note);
    }
    const log = await openLog(backend);
    expect(log.size).toBe(3);
    expect(log.checkpointSizes).toEqual([1, 2, 3]);
    const latest = await log.latestCheckpoint([verifier]);
    expect(latest.note).toBe(notes[2]);
    expect(latest.checkpoint.origin).toBe(ref);
    for (const r of [1, 2, 3]) {
      const p = log.inclusion(r, 3);
      verifyInclusion(p.leafHash, p.index, 3, p.proof, latest.checkpoint.root);
    }
    const first = (await log.checkpointNote(1))!;
    const cp1 = log.checkStored(first, [verifier]).checkpoint;
    const c = log.consistency(1, 3);
    verifyConsistency(1, 3, c.proof, cp1.root, latest.checkpoint.root);
    expect(log.checkExtends(cp1, latest.checkpoint)).toEqual(c.proof);

    // re-appending the same entry is a no-op; another digest for a logged revision is refused
    const again = await appendToLog(backend, log.entries[1], { signer, ...timing });
    expect(again).toMatchObject({ index: 1, appended: false });
    expect(await codeOf(appendToLog(backend, { ...log.entries[1], digest: 'sha256:' + '0'.repeat(64) }, { signer, ...timing }))).toBe(
      'TLOG_DUPLICATE_REVISION',
    );

    // another key cannot extend this log
    const other = parseSignerKey(generateNoteKey('gantry-test-log').signerKey);
    expect(await codeOf(appendToLog(backend, { ...log.entries[2], revision: 9 }, { signer: other, ...timing }))).toBe(
      'TLOG_NOTE_UNVERIFIED',
    );
    expect((await openLog(backend)).size).toBe(3);

    // what the controller asks on resolve: included, naming this digest, extending what it recorded
    const evidence = await log.proveRevision(2, log.entries[1].digest, [verifier], notes[0]);
    expect(evidence).toMatchObject({ inclusion: { index: 1, treeSize: 3 }, checkpoint: { note: notes[2] } });
    expect(evidence.consistency).toEqual(c.proof);
    expect(await codeOf(log.proveRevision(2, log.entries[2].digest, [verifier]))).toBe('TLOG_TAG_MISMATCH');
    expect(await codeOf(log.proveRevision(9, log.entries[1].digest, [verifier]))).toBe('TLOG_UNLOGGED_REVISION');
    expect(await codeOf(log.proveRevision(2, log.entries[1].digest, [parseVerifierKey(generateNoteKey('x').verifierKey)]))).toBe(
      'TLOG_NOTE_UNVERIFIED',
    );

    const v = await verifyLog(backend, { verifiers: [verifier], trusted: notes[0] });
    expect(v.problems).toEqual([]);
    expect(v).toMatchObject({ ok: true, size: 3, uncheckpointed: 0 });
  });

  it('four concurrent appends keep all four entries, each at its own index', async () => {
    const ref = `${reg.host}/tlog/race`;
    const opts = { plainHttpRegistries: [reg.host] };
    const store = openArchiveStore(ref, opts);
    const backend = openContentBackend(ref, opts);
    const s = newSigner();
    const pushed = [];
    for (const r of [1, 2, 3, 4]) pushed.push(await store.push(await makeArchive(s, r)));
    const results = await Promise.all(pushed.map((p) => appendToLog(backend, logEntryOf(p), { signer, ...timing })));
    expect(results.map((r) => r.appended)).toEqual([true, true, true, true]);
    expect(new Set(results.map((r) => r.index)).size).toBe(4);
    const log = await openLog(backend);
    expect(log.entries.map((e) => e.revision).sort()).toEqual([1, 2, 3, 4]);
    const v = await verifyLog(backend, { verifiers: [verifier] });
    expect(v.problems).toEqual([]);
    expect(v.checkpoint?.checkpoint.size).toBe(4);
  });

  it("an append's checkpoint covers only the prefix up to its own confirmed entry, never a competitor's unsettled claim", async () => {
    const ref = `${reg.host}/tlog/settled`;
    const opts = { plainHttpRegistries: [reg.host] };
    const store = openArchiveStore(ref, opts);
    const backend = openContentBackend(ref, opts);
    const s = newSigner();
    const first = logEntryOf(await store.push(await makeArchive(s, 1)));
    await appendToLog(backend, first, { signer, ...timing });
    const ours = logEntryOf(await store.push(await makeArchive(s, 2)));
    // while our claim of index 1 waits for confirmation, a competitor claims index 2 …
    const appending = appendToLog(backend, ours, { signer, deltaMs: 1000, waitMs: 4000 });
    await new Promise((r) => setTimeout(r, 1500));
    await storeEntry(backend, 2, { ...first, revision: 7, version: 'claim-a' });
    const done = await appending;
    expect(done).toMatchObject({ index: 1, appended: true });
    expect(done.checkpoint.checkpoint.size).toBe(2);
    // … and another competitor's claim replaces it within its window, as Fischer allows
    await storeEntry(backend, 2, { ...first, revision: 7, version: 'claim-b' });
    const latest = await (await openLog(backend)).latestCheckpoint([verifier]);
    expect(latest.checkpoint.size).toBe(2);
  });

  it('attacks on the stored log, each refused with its own code', async () => {
    const opts = { plainHttpRegistries: [reg.host] };
    const s = newSigner();
    /** A fresh repository with revisions 1 and 2 logged. */
    async function logged(name: string) {
      const ref = `${reg.host}/tlog/attack-${name}`;
      const store = openArchiveStore(ref, opts);
      const backend = openContentBackend(ref, opts);
      for (const r of [1, 2]) await appendToLog(backend, logEntryOf(await store.push(await makeArchive(s, r))), { signer, ...timing });
      return { backend, log: await openLog(backend) };
    }
    const codes = async (backend: Parameters<typeof verifyLog>[0]) => [
      ...new Set((await verifyLog(backend, { verifiers: [verifier] })).problems.map((p) => p.code)),
    ];

    // an entry rewritten after it was checkpointed (no key needed to write a tag): in a tiled
    // log the entry tag now disagrees with its signed bundle (verifyLog, tlog/log/verify-tiles.ts)
    const rewritten = await logged('rewritten');
    await storeEntry(rewritten.backend, 1, { ...rewritten.log.entries[1], version: '9.9.9' });
    expect(await codes(rewritten.backend)).toEqual(['TLOG_TILE_MISMATCH']);
    // the log's tree is its tiles: an extension reads them, not the entry tags below the
    // checkpoint, and the log key's holder cannot extend a tree whose bundle was rewritten
    const forged = [{ ...rewritten.log.entries[0] }, { ...rewritten.log.entries[1], version: '9.9.9' }].map((e) => encodeEntry(e));
    const id = { index: 0, width: 2 };
    await storeTiles(rewritten.backend, [{ kind: 'entries', path: tiles.bundlePath(id), id, bytes: tiles.encodeBundle(forged) }]);
    await storeEntry(rewritten.backend, 2, { ...rewritten.log.entries[1], revision: 3 });
    expect(await codeOf(checkpointLog(rewritten.backend, { signer }))).toBe('TLOG_TILE_MISMATCH');

    // an entry copied to another index
    const moved = await logged('moved');
    const m = (await moved.backend.getManifest('tlog.entry.0'))!;
    await moved.backend.putManifest('tlog.entry.1', m.bytes, 'application/vnd.oci.image.manifest.v1+json');
    expect(await codes(moved.backend)).toEqual(['TLOG_ENTRY_MALFORMED']);

    // a checkpoint of another log (same key) served here
    const other = await logged('other');
    const foreign = await logged('foreign');
    await storeCheckpointNote(other.backend, 2, (await foreign.log.checkpointNote(2))!.note);
    expect(await codes(other.backend)).toEqual(['TLOG_ORIGIN_MISMATCH']);

    // an older checkpoint put back under the newest tag
    const older = await logged('older');
    await storeCheckpointNote(older.backend, 2, (await older.log.checkpointNote(1))!.note);
    expect(await codes(older.backend)).toEqual(['TLOG_ROLLBACK']);

    // a second, different entry for a logged revision, even signed by the log key
    const dup = await logged('dup');
    await storeEntry(dup.backend, 2, { ...dup.log.entries[0], digest: dup.log.entries[1].digest });
    await checkpointLog(dup.backend, { signer });
    expect(await codes(dup.backend)).toEqual(['TLOG_DUPLICATE_REVISION']);

    // an entry deleted after it was checkpointed (the registry operator deletes its manifest)
    const deleted = await logged('deleted');
    const gone = (await deleted.backend.getManifest('tlog.entry.1'))!.digest;
    expect((await fetch(`${reg.url}/v2/tlog/attack-deleted/manifests/${gone}`, { method: 'DELETE' })).status).toBe(202);
    expect(await codes(deleted.backend)).toEqual(['TLOG_ENTRY_MISSING', 'TLOG_UNLOGGED_REVISION']);
  });
});
