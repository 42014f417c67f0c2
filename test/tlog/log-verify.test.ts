/**
 * Reading and checking a stored log, each check on its own: the log is written into an OCI
 * image-layout directory (the same ContentBackend a registry is, with no server and no timing),
 * entry by entry and checkpoint by checkpoint, and then changed the way a lying registry or a
 * careless operator would. Every refusal carries its own code and says where and what. The
 * appends' timing rule and the registry's own behaviour are proved against a real registry in
 * registry-log.test.ts; this file is what the mutation run uses for the checks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ImageLayoutBackend } from '../../registry/index.js';
import type { ContentBackend } from '../../registry/backend.js';
import { sha256Digest } from '../../registry/digest.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import {
  appendToLog,
  checkpointLog,
  checkpointTag,
  encodeBase64,
  entryTag,
  generateNoteKey,
  isTlogError,
  LOG_CHECKPOINT_ARTIFACT_TYPE,
  LOG_CHECKPOINT_MEDIA_TYPE,
  LOG_ENTRY_ARTIFACT_TYPE,
  LOG_ENTRY_MEDIA_TYPE,
  LOG_INDEX_ANNOTATION,
  openLog,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  signNote,
  formatCheckpoint,
  storeCheckpointNote,
  storeEntry,
  verifyCheckpointNote,
  verifyConsistency,
  verifyInclusion,
  verifyLog,
  leafHash,
  encodeEntry,
  type LogEntry,
  type TlogErrorCode,
  storeTiles,
  tiles,
} from '../../tlog/index.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-log-verify-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const layout = (): ImageLayoutBackend => new ImageLayoutBackend(join(root, `repo-${n++}`));

const keys = generateNoteKey('gantry-test-log');
const signer = parseSignerKey(keys.signerKey);
const verifier = parseVerifierKey(keys.verifierKey);
const otherSigner = parseSignerKey(generateNoteKey('gantry-test-log').signerKey);

async function refusal(p: Promise<unknown> | (() => unknown)): Promise<{ code: TlogErrorCode | 'ok'; message: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
    return { code: 'ok', message: '' };
  } catch (e) {
    if (isTlogError(e)) return { code: e.code, message: e.message };
    throw e;
  }
}

const issuer = 'A' + 'B'.repeat(55);
const subject = 'V' + 'C'.repeat(55);

/** Publishes a stand-in archive manifest under rev-<revision> and returns the entry that logs it. */
async function publish(backend: ImageLayoutBackend, revision: number, version = `1.0.${revision}`): Promise<LogEntry> {
  const manifest = new Uint8Array(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { revision: String(revision), version } })),
  );
  const digest = await backend.putManifest(`rev-${revision}`, manifest, OCI_MANIFEST);
  return { revision, digest, issuer, subject, capid: 'acme:kv', version };
}

/** A log of the given revisions, checkpointed after each entry (sizes 1..n), by `signer`. */
async function logOf(
  revisions: number[],
  backend = layout(),
): Promise<{ backend: ImageLayoutBackend; entries: LogEntry[]; notes: string[] }> {
  const entries: LogEntry[] = [];
  const notes: string[] = [];
  for (const [i, r] of revisions.entries()) {
    const e = await publish(backend, r);
    entries.push(e);
    await storeEntry(backend, i, e);
    notes.push((await checkpointLog(backend, { signer })).note);
  }
  return { backend, entries, notes };
}

/** A checkpoint note over `entries`' first `size` leaves, for `origin`, signed by `by`. */
function noteOver(entries: LogEntry[], size: number, origin: string, by = signer): string {
  const r = rootOf(
    entries.map((e) => leafHash(encodeEntry(e))),
    size,
  );
  return signNote(formatCheckpoint({ origin, size, root: r, extensions: [] }), [by]);
}

const problemsOf = async (backend: ImageLayoutBackend, opts: Partial<Parameters<typeof verifyLog>[1]> = {}) =>
  (await verifyLog(backend, { verifiers: [verifier], ...opts })).problems;

describe('opening a stored log', () => {
  it('reads entries in index order and checkpoint sizes in numeric order, ignoring tags that only look like log tags', async () => {
    const { backend, entries } = await logOf([1, 2, 3]);
    // checkpoints of sizes 2 and 10 sort as numbers (10 after 2, not before it)
    for (let i = 3; i < 10; i++) await storeEntry(backend, i, await publish(backend, i + 1));
    await checkpointLog(backend, { signer });
    for (const t of ['tlog.entry.01', 'tlog.checkpoint.007', 'tlog.entry.x', 'xtlog.entry.5', 'tlog.entry.5x']) {
      await backend.putManifest(t, (await backend.getManifest('tlog.entry.0'))!.bytes, OCI_MANIFEST);
    }
    const log = await openLog(backend);
    expect(log.size).toBe(10);
    expect(log.entries.slice(0, 3)).toEqual(entries);
    expect(log.checkpointSizes).toEqual([1, 2, 3, 10]);
    expect(log.latestCheckpointSize).toBe(10);
    expect(log.strayEntryIndices).toEqual([]);
    expect(log.origin).toBe(backend.description);
    expect(log.tags).toContain('rev-3');
  });

  it('an empty repository is a log of size 0 with no checkpoint', async () => {
    const log = await openLog(layout());
    expect({ size: log.size, sizes: log.checkpointSizes, latest: log.latestCheckpointSize, stray: log.strayEntryIndices }).toEqual({
      size: 0,
      sizes: [],
      latest: undefined,
      stray: [],
    });
    expect(await log.checkpointNote()).toBeUndefined();
    const r = await refusal(log.latestCheckpoint([verifier]));
    expect(r.code).toBe('TLOG_NO_LOG');
    expect(r.message).toContain('has no transparency log (no tlog.checkpoint.<n> tag); push with --log-key');
  });

  it('a gap stops the log: later entries are stray, in numeric order', async () => {
    const { backend } = await logOf([1]);
    for (const i of [10, 3, 2]) await storeEntry(backend, i, await publish(backend, i + 5));
    const log = await openLog(backend);
    expect(log.size).toBe(1);
    expect(log.strayEntryIndices).toEqual([2, 3, 10]);
  });

  it('an entry stored under another index, one without its index, and one not canonical are refused, naming the tag', async () => {
    const { backend, entries } = await logOf([1, 2]);
    await backend.putManifest('tlog.entry.1', (await backend.getManifest('tlog.entry.0'))!.bytes, OCI_MANIFEST);
    let r = await refusal(openLog(backend));
    expect(r.code).toBe('TLOG_ENTRY_MALFORMED');
    expect(r.message).toBe(`${backend.description}:tlog.entry.1 holds the entry written for index 0: an entry was moved`);

    const content = encodeEntry(entries[1]);
    const manifest = (annotations: Record<string, string> | undefined, layer: object = {}) =>
      new Uint8Array(
        Buffer.from(
          JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            artifactType: LOG_ENTRY_ARTIFACT_TYPE,
            layers: [
              {
                mediaType: LOG_ENTRY_MEDIA_TYPE,
                digest: sha256Digest(content),
                size: content.length,
                data: encodeBase64(content),
                ...layer,
              },
            ],
            ...(annotations ? { annotations } : {}),
          }),
        ),
      );
    await backend.putManifest('tlog.entry.1', manifest(undefined), OCI_MANIFEST);
    r = await refusal(openLog(backend));
    expect(r.message).toContain('holds the entry written for index (none)');

    const lax = new Uint8Array(Buffer.from(Buffer.from(content).toString('utf8').replace('revision 2', 'revision 02')));
    await backend.putManifest(
      'tlog.entry.1',
      manifest({ [LOG_INDEX_ANNOTATION]: '1' }, { digest: sha256Digest(lax), size: lax.length, data: encodeBase64(lax) }),
      OCI_MANIFEST,
    );
    r = await refusal(openLog(backend));
    expect(r.code).toBe('TLOG_ENTRY_MALFORMED');
    expect(r.message).toBe(
      `${backend.description}:tlog.entry.1: not a gantry-log-entry/v1 log entry: revision "02" is not canonical decimal`,
    );
  });

  it('a log manifest of another kind, with two layers, an oversized layer, or content that does not match its digest is refused', async () => {
    const { backend, entries } = await logOf([1]);
    const content = encodeEntry(entries[0]);
    const good = { mediaType: LOG_ENTRY_MEDIA_TYPE, digest: sha256Digest(content), size: content.length, data: encodeBase64(content) };
    const put = (m: object | string) =>
      backend.putManifest('tlog.entry.0', new Uint8Array(Buffer.from(typeof m === 'string' ? m : JSON.stringify(m))), OCI_MANIFEST);
    const base = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: LOG_ENTRY_ARTIFACT_TYPE,
      annotations: { [LOG_INDEX_ANNOTATION]: '0' },
    };
    const where = `${backend.description}:tlog.entry.0`;
    const shape = `${where} is not a ${LOG_ENTRY_ARTIFACT_TYPE} manifest with one ${LOG_ENTRY_MEDIA_TYPE} layer`;
    for (const [m, message] of [
      ['{ not json', `${where} is not a JSON manifest`],
      [{ ...base, artifactType: LOG_CHECKPOINT_ARTIFACT_TYPE, layers: [good] }, shape],
      [{ ...base, layers: [good, good] }, shape],
      [{ ...base, layers: [] }, shape],
      [{ ...base }, shape],
      [{ ...base, layers: [{ ...good, mediaType: LOG_CHECKPOINT_MEDIA_TYPE }] }, shape],
      [{ ...base, layers: [{ ...good, size: -1 }] }, shape],
      [{ ...base, layers: [{ ...good, size: 1.5 }] }, shape],
      [{ ...base, layers: [{ ...good, size: 64 * 1024 + 1 }] }, shape],
      [
        { ...base, layers: [{ ...good, data: encodeBase64(new Uint8Array(Buffer.from('x'))) }] },
        `${where}: the embedded content does not match the layer digest ${good.digest}`,
      ],
      [{ ...base, layers: [{ ...good, size: good.size + 1 }] }, `${where}: the embedded content does not match the layer digest`],
      // the same length, one field changed: still a canonical entry, but not the one the digest names
      [
        { ...base, layers: [{ ...good, data: encodeBase64(encodeEntry({ ...entries[0], version: '1.0.9' })) }] },
        `${where}: the embedded content does not match the layer digest`,
      ],
      ['null', shape],
    ] as const) {
      await put(m);
      const r = await refusal(openLog(backend));
      expect(r.code, JSON.stringify(m)).toBe('TLOG_ENTRY_MALFORMED');
      expect(r.message, JSON.stringify(m)).toContain(message);
    }
    // content not embedded (or not as a string) is fetched from the blob store (storeEntry wrote the blob) and checked
    await put({ ...base, layers: [{ ...good, data: undefined }] });
    expect((await openLog(backend)).entries).toEqual(entries);
    await put({ ...base, layers: [{ ...good, data: 1234 }] });
    expect((await openLog(backend)).entries).toEqual(entries);
    // a layer exactly at the size cap is still read
    expect(
      (
        await refusal(async () => {
          await put({ ...base, layers: [{ ...good, size: 64 * 1024 }] });
          return openLog(backend);
        })
      ).message,
    ).toContain('does not match the layer digest');
  });

  it('log manifests are the documented OCI artifacts: the empty config, one titled layer, the content embedded, the index annotated', async () => {
    const { backend, entries } = await logOf([1]);
    const entry = JSON.parse(Buffer.from((await backend.getManifest(entryTag(0)))!.bytes).toString('utf8'));
    const content = encodeEntry(entries[0]);
    expect(entry).toEqual({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: LOG_ENTRY_ARTIFACT_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256Digest(Buffer.from('{}')), size: 2, data: 'e30=' },
      layers: [
        {
          mediaType: LOG_ENTRY_MEDIA_TYPE,
          digest: sha256Digest(content),
          size: content.length,
          data: encodeBase64(content),
          // `oras pull` writes a layer only when it has a title: a plain file name
          annotations: { 'org.opencontainers.image.title': 'entry-0.txt' },
        },
      ],
      annotations: { [LOG_INDEX_ANNOTATION]: '0' },
    });
    const cp = JSON.parse(Buffer.from((await backend.getManifest(checkpointTag(1)))!.bytes).toString('utf8'));
    expect(cp.artifactType).toBe(LOG_CHECKPOINT_ARTIFACT_TYPE);
    expect(cp.layers[0].annotations).toEqual({ 'org.opencontainers.image.title': 'checkpoint-1.txt' });
    expect(cp.annotations).toBeUndefined();
    // Gantry's checkpoints carry no extension lines: origin, size, root
    const body = Buffer.from(cp.layers[0].data, 'base64').toString('utf8').split('\n\n')[0];
    expect(body.split('\n')).toHaveLength(3);
  });

  it('a checkpoint whose embedded note is not the one its digest names is TLOG_CHECKPOINT_MALFORMED', async () => {
    const { backend, entries } = await logOf([1]);
    const m = JSON.parse(Buffer.from((await backend.getManifest(checkpointTag(1)))!.bytes).toString('utf8'));
    const other = noteOver(entries, 1, 'elsewhere/logs');
    m.layers[0].data = encodeBase64(new Uint8Array(Buffer.from(other)));
    m.layers[0].size = Buffer.byteLength(other);
    await backend.putManifest(checkpointTag(1), new Uint8Array(Buffer.from(JSON.stringify(m))), OCI_MANIFEST);
    const r = await refusal((await openLog(backend)).latestCheckpoint([verifier]));
    expect(r.code).toBe('TLOG_CHECKPOINT_MALFORMED');
    expect(r.message).toContain('the embedded content does not match the layer digest');
  });

  it('a checkpoint manifest of the wrong shape is TLOG_CHECKPOINT_MALFORMED', async () => {
    const { backend } = await logOf([1]);
    await backend.putManifest(checkpointTag(1), (await backend.getManifest(entryTag(0)))!.bytes, OCI_MANIFEST);
    const log = await openLog(backend);
    const r = await refusal(log.latestCheckpoint([verifier]));
    expect(r.code).toBe('TLOG_CHECKPOINT_MALFORMED');
    expect(r.message).toBe(
      `${backend.description}:tlog.checkpoint.1 is not a ${LOG_CHECKPOINT_ARTIFACT_TYPE} manifest with one ${LOG_CHECKPOINT_MEDIA_TYPE} layer`,
    );
  });
});

describe('checking checkpoints', () => {
  it('a checkpoint opens with a trusted key and names its signers; another origin is refused with both names', async () => {
    const { backend, notes } = await logOf([1, 2]);
    const v = verifyCheckpointNote(Buffer.from(notes[1]), [verifier], backend.description);
    expect(v).toMatchObject({
      note: notes[1],
      checkpoint: { origin: backend.description, size: 2 },
      signedBy: [`gantry-test-log+${signer.keyHash}`],
    });
    expect(verifyCheckpointNote(notes[1], [verifier], backend.description).note).toBe(notes[1]);
    const r = await refusal(() => verifyCheckpointNote(notes[1], [verifier], 'elsewhere/log'));
    expect(r.code).toBe('TLOG_ORIGIN_MISMATCH');
    expect(r.message).toBe(
      `the checkpoint is for the log "${backend.description}", not "elsewhere/log"; it was copied from another log or the origin was given wrongly`,
    );
  });

  it('the latest checkpoint verifies against the entries; a checkpoint under a larger tag is a rollback, under a smaller one malformed', async () => {
    const { backend, notes, entries } = await logOf([1, 2, 3]);
    const log = await openLog(backend);
    expect((await log.latestCheckpoint([verifier])).note).toBe(notes[2]);
    expect(await log.checkpointNote(2)).toEqual({ tag: 'tlog.checkpoint.2', tagSize: 2, note: notes[1] });
    expect(await log.checkpointNote(7)).toBeUndefined();

    const rollback = await refusal(() => log.checkStored({ tag: 'tlog.checkpoint.3', tagSize: 3, note: notes[1] }, [verifier]));
    expect(rollback.code).toBe('TLOG_ROLLBACK');
    expect(rollback.message).toBe(
      `${backend.description}:tlog.checkpoint.3 serves the checkpoint of size 2: an older checkpoint put back under a newer tag`,
    );
    const ahead = await refusal(() => log.checkStored({ tag: 'tlog.checkpoint.1', tagSize: 1, note: notes[1] }, [verifier]));
    expect(ahead.code).toBe('TLOG_CHECKPOINT_MALFORMED');
    expect(ahead.message).toBe(`${backend.description}:tlog.checkpoint.1 serves the checkpoint of size 2`);

    // a checkpoint larger than the stored log, and one whose root the entries do not give
    const beyond = noteOver([...entries, entries[0]], 4, backend.description);
    const missing = await refusal(() => log.checkStored({ tag: 'tlog.checkpoint.4', tagSize: 4, note: beyond }, [verifier]));
    expect(missing.code).toBe('TLOG_ENTRY_MISSING');
    expect(missing.message).toBe(`${backend.description}: the checkpoint covers 4 entries but only 3 are stored (tlog.entry.3 is missing)`);
    const forged = noteOver([entries[0], entries[2], entries[1]], 3, backend.description);
    const mismatch = await refusal(() => log.checkStored({ tag: 'tlog.checkpoint.3', tagSize: 3, note: forged }, [verifier]));
    expect(mismatch.code).toBe('TLOG_ROOT_MISMATCH');
    expect(mismatch.message).toBe(
      `${backend.description}: the stored entries 0..2 do not hash to the signed root of size 3: entries were rewritten or replaced after they were checkpointed`,
    );
    // the root at every size is the tree's root, checkpointed or not
    for (let s = 0; s <= 3; s++) expect(log.rootAt(s)).toEqual(rootOf(log.leafHashes, s));
  });
});

describe('proving a revision', () => {
  it('inclusion: the first entry of a revision, in the tree asked for, with a proof that verifies', async () => {
    const { backend, entries } = await logOf([1, 2, 3]);
    await storeEntry(backend, 3, entries[1]); // revision 2 logged twice, identically
    const log = await openLog(backend);
    expect(log.indexOfRevision(2)).toBe(1);
    expect(log.indexOfRevision(1)).toBe(0);
    expect(log.indexOfRevision(9)).toBeUndefined();
    const p = log.inclusion(2, 3);
    expect(p).toMatchObject({ revision: 2, index: 1, treeSize: 3, entry: entries[1] });
    verifyInclusion(p.leafHash, 1, 3, p.proof, rootOf(log.leafHashes, 3));
    expect(log.inclusion(3).treeSize).toBe(4);
    expect(log.inclusion(1, 1).proof).toEqual([]);
    const unlogged = await refusal(() => log.inclusion(9));
    expect(unlogged).toEqual({ code: 'TLOG_UNLOGGED_REVISION', message: `${backend.description}: revision 9 has no entry in the log` });
    const outside = await refusal(() => log.inclusion(3, 2));
    expect(outside).toEqual({
      code: 'TLOG_BAD_INDEX',
      message: `${backend.description}: revision 3 is entry 2, not in the tree of size 2 (not checkpointed yet)`,
    });
  });

  it('consistency between two sizes of the stored log verifies', async () => {
    const { backend } = await logOf([1, 2, 3, 4, 5]);
    const log = await openLog(backend);
    const c = log.consistency(2);
    expect({ from: c.from, to: c.to }).toEqual({ from: 2, to: 5 });
    verifyConsistency(2, 5, c.proof, rootOf(log.leafHashes, 2), rootOf(log.leafHashes, 5));
    expect(c.fromRoot).toEqual(rootOf(log.leafHashes, 2));
    expect(c.toRoot).toEqual(rootOf(log.leafHashes, 5));
  });

  it('proveRevision: included in the latest checkpoint, naming the digest, extending what was trusted', async () => {
    const { backend, entries, notes } = await logOf([1, 2, 3]);
    await storeEntry(backend, 3, await publish(backend, 4)); // logged, not yet checkpointed
    const log = await openLog(backend);
    const ev = await log.proveRevision(2, entries[1].digest, [verifier], notes[0]);
    expect(ev.checkpoint.note).toBe(notes[2]);
    expect(ev.inclusion).toMatchObject({ index: 1, treeSize: 3 });
    expect(ev.consistency).toEqual(log.consistency(1, 3).proof);
    expect((await log.proveRevision(2, entries[1].digest, [verifier])).consistency).toBeUndefined();
    expect((await log.proveRevision(3, entries[2].digest, [verifier], notes[2])).consistency).toEqual([]);

    const pending = await refusal(log.proveRevision(4, log.entries[3].digest, [verifier]));
    expect(pending).toEqual({
      code: 'TLOG_UNLOGGED_REVISION',
      message: `${backend.description}: revision 4 is not in the log's latest checkpoint (size 3)`,
    });
    expect(await refusal(log.proveRevision(9, entries[0].digest, [verifier]))).toEqual({
      code: 'TLOG_UNLOGGED_REVISION',
      message: `${backend.description}: revision 9 is not in the log's latest checkpoint (size 3)`,
    });
    const moved = await refusal(log.proveRevision(2, entries[2].digest, [verifier]));
    expect(moved).toEqual({
      code: 'TLOG_TAG_MISMATCH',
      message: `${backend.description}: revision 2 resolves to ${entries[2].digest}, the log records ${entries[1].digest}; the tag was re-pointed`,
    });
    expect((await refusal(log.proveRevision(2, entries[1].digest, [verifier], noteOver(entries, 1, 'elsewhere/log')))).code).toBe(
      'TLOG_ORIGIN_MISMATCH',
    );
  });

  it('checkExtends: a smaller tree is a rollback, other leaves under a trusted size a fork, a bad latest root a fork', async () => {
    const { backend, entries } = await logOf([1, 2, 3, 4]);
    const log = await openLog(backend);
    const at = (s: number) => ({ origin: log.origin, size: s, root: log.rootAt(s), extensions: [] });
    const rollback = await refusal(() => log.checkExtends(at(3), at(2)));
    expect(rollback).toEqual({
      code: 'TLOG_ROLLBACK',
      message: `${backend.description}: the log's latest checkpoint has 2 entries, fewer than the 3 of a checkpoint already trusted; the registry rolled the log back`,
    });
    expect(log.checkExtends({ ...at(0), root: new Uint8Array(32) }, at(4))).toEqual([]);
    expect(log.checkExtends(at(4), at(4))).toEqual([]);
    expect(log.checkExtends(at(1), at(4))).toEqual(log.consistency(1, 4).proof);

    const otherRoot = rootOf(
      [entries[1], entries[0]].map((e) => leafHash(encodeEntry(e))),
      2,
    );
    const fork = await refusal(() => log.checkExtends({ ...at(2), root: otherRoot }, at(4)));
    expect(fork).toEqual({
      code: 'TLOG_FORK',
      message: `${backend.description}: the first 2 entries of this log hash to ${encodeBase64(log.rootAt(2))}, the trusted checkpoint says ${encodeBase64(otherRoot)}; the history was rewritten (a fork)`,
    });
    let cause: unknown;
    try {
      log.checkExtends(at(2), { ...at(4), root: log.rootAt(3) });
    } catch (e) {
      cause = (e as Error).cause;
    }
    expect(isTlogError(cause) && cause.code).toBe('TLOG_BAD_PROOF');
    const badLatest = await refusal(() => log.checkExtends(at(2), { ...at(4), root: log.rootAt(3) }));
    expect(badLatest).toEqual({
      code: 'TLOG_FORK',
      message: `${backend.description}: no consistency proof links the trusted checkpoint of size 2 to the latest of size 4`,
    });
  });
});

/** `inner` with extra tags listed whose manifests are gone by the time they are read (a race with a delete). */
function vanishing(inner: ImageLayoutBackend, extra: string[]): ContentBackend {
  return Object.assign(Object.create(inner) as ContentBackend, { listTags: async () => [...(await inner.listTags()), ...extra] });
}

describe('verifyLog: every problem, each with its own code', () => {
  it('an entry or checkpoint listed but gone when read: the log ends before the entry; the checkpoint is reported', async () => {
    const { backend, entries } = await logOf([1, 2]);
    const racing = vanishing(backend, ['tlog.entry.2', 'tlog.entry.3', 'tlog.checkpoint.4']);
    const log = await openLog(racing);
    expect(log.entries).toEqual(entries);
    expect(log.strayEntryIndices).toEqual([]);
    const v = await verifyLog(racing, { verifiers: [verifier] });
    expect(v.problems).toEqual([
      { code: 'TLOG_ENTRY_MISSING', message: `tlog.checkpoint.4: ${backend.description}: tlog.checkpoint.4 vanished while being read` },
    ]);
  });

  it('a registry that fails is an error, not a problem of the log', async () => {
    const failing = Object.assign(Object.create(layout()) as ContentBackend, {
      listTags: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      },
    });
    await expect(verifyLog(failing, { verifiers: [verifier] })).rejects.toThrow('ECONNREFUSED');
  });

  it('a mirror verifies under the origin it copies', async () => {
    const { backend, notes } = await logOf([1, 2]);
    const mirror = layout();
    for (const t of await backend.listTags()) {
      const m = (await backend.getManifest(t))!;
      const parsed = JSON.parse(Buffer.from(m.bytes).toString('utf8'));
      for (const d of [parsed.config, ...(parsed.layers ?? [])].filter(Boolean))
        await mirror.putBlob(d.digest, await backend.getBlob(d.digest));
      await mirror.putManifest(t, m.bytes, OCI_MANIFEST);
    }
    expect((await problemsOf(mirror)).map((p) => p.code)).toContain('TLOG_ORIGIN_MISMATCH');
    const v = await verifyLog(mirror, { verifiers: [verifier], origin: backend.description, trusted: notes[0] });
    expect(v.problems).toEqual([]);
    expect(v.origin).toBe(backend.description);
  });

  it('a good log: ok, its size, its checkpoint, and a consistency proof from the trusted checkpoint', async () => {
    const { backend, notes } = await logOf([1, 2, 3]);
    const v = await verifyLog(backend, {
      verifiers: [verifier],
      trusted: notes[0],
      readArchive: async (d) => ({ ...(await openLog(backend)).entries.find((e) => e.digest === d)! }),
    });
    expect(v.problems).toEqual([]);
    expect(v).toMatchObject({ ok: true, origin: backend.description, size: 3, uncheckpointed: 0, checkpoint: { note: notes[2] } });
    expect(v.consistencyProof).toEqual((await openLog(backend)).consistency(1, 3).proof);
    expect((await verifyLog(backend, { verifiers: [verifier] })).consistencyProof).toBeUndefined();
  });

  it('no log, and entries without a checkpoint, are TLOG_NO_LOG with what to do', async () => {
    const empty = layout();
    const v = await verifyLog(empty, { verifiers: [verifier] });
    expect(v).toEqual({
      ok: false,
      origin: empty.description,
      size: 0,
      uncheckpointed: 0,
      problems: [
        { code: 'TLOG_NO_LOG', message: `${empty.description} has no transparency log (no tlog.* tags); push with --log-key to start one` },
      ],
    });
    const b = layout();
    await storeEntry(b, 0, await publish(b, 1));
    expect(await problemsOf(b)).toEqual([
      { code: 'TLOG_NO_LOG', message: `${b.description} has log entries but no checkpoint; push again to write one` },
    ]);
    // a log whose only tags are checkpoints is a log (its checkpoint has no entries to match)
    const c = layout();
    await storeCheckpointNote(c, 1, noteOver([await publish(c, 1)], 1, c.description));
    expect((await problemsOf(c)).map((p) => p.code)).toEqual(['TLOG_ENTRY_MISSING', 'TLOG_UNLOGGED_REVISION']);
  });

  it('a log that cannot be read is one problem, with the origin asked for', async () => {
    const { backend } = await logOf([1]);
    await backend.putManifest(entryTag(0), new Uint8Array(Buffer.from('{ not json')), OCI_MANIFEST);
    const v = await verifyLog(backend, { verifiers: [verifier], origin: 'mirror/of/log' });
    expect(v).toMatchObject({ ok: false, origin: 'mirror/of/log', size: 0, uncheckpointed: 0 });
    expect(v.problems.map((p) => p.code)).toEqual(['TLOG_ENTRY_MALFORMED']);
    expect((await verifyLog(backend, { verifiers: [verifier] })).origin).toBe(backend.description);
  });

  it('entries after a gap, an interrupted push, and each bad checkpoint (prefixed with its tag)', async () => {
    const { backend, notes } = await logOf([1, 2, 3]);
    await storeEntry(backend, 3, await publish(backend, 4)); // an interrupted push: logged, not checkpointed
    for (const i of [6, 5]) await storeEntry(backend, i, await publish(backend, i + 10));
    await storeCheckpointNote(backend, 2, notes[0]); // an older checkpoint under tag 2
    const v = await verifyLog(backend, { verifiers: [verifier] });
    expect(v.size).toBe(4);
    expect(v.uncheckpointed).toBe(1);
    expect(v.checkpoint?.checkpoint.size).toBe(3);
    expect(v.problems).toEqual([
      {
        code: 'TLOG_ENTRY_MISSING',
        message: `${backend.description}: tlog.entry.4 is missing but entries 5, 6 exist: an entry was deleted`,
      },
      {
        code: 'TLOG_ROLLBACK',
        message: `tlog.checkpoint.2: ${backend.description}:tlog.checkpoint.2 serves the checkpoint of size 1: an older checkpoint put back under a newer tag`,
      },
      {
        code: 'TLOG_UNLOGGED_REVISION',
        message: `${backend.description}: rev-15 is published but has no log entry; re-push that archive to log it`,
      },
      {
        code: 'TLOG_UNLOGGED_REVISION',
        message: `${backend.description}: rev-16 is published but has no log entry; re-push that archive to log it`,
      },
    ]);
    expect(v.ok).toBe(false);
  });

  it('a latest checkpoint that fails leaves no checkpoint and nothing counted as uncheckpointed', async () => {
    const { backend, entries } = await logOf([1, 2]);
    await storeCheckpointNote(backend, 2, noteOver(entries, 2, backend.description, otherSigner));
    const v = await verifyLog(backend, { verifiers: [verifier], trusted: noteOver(entries, 1, backend.description) });
    expect(v.checkpoint).toBeUndefined();
    expect(v.uncheckpointed).toBe(0);
    expect(v.problems.map((p) => p.code)).toEqual(['TLOG_NOTE_UNVERIFIED', 'TLOG_ROLLBACK']);
    expect(v.problems[1].message).toBe(
      `against the trusted checkpoint: ${backend.description}: no verifiable checkpoint to compare with the trusted one of size 1`,
    );
    expect(v.problems[0].message.startsWith('tlog.checkpoint.2: no signature by a trusted key')).toBe(true);
  });

  it('entries against each other, their tags and their archives', async () => {
    const { backend, entries } = await logOf([1, 2, 3, 4]);
    // revision 1 logged again, differently; revision 2 logged again, identically
    await storeEntry(backend, 4, { ...entries[0], version: 'other' });
    await storeEntry(backend, 5, entries[1]);
    await checkpointLog(backend, { signer });
    // rev-3 re-pointed, rev-4 deleted from the index
    await publish(backend, 3, 'moved');
    const index = JSON.parse(readFileSync(join(backend.dir, 'index.json'), 'utf8'));
    index.manifests = index.manifests.filter(
      (m: { annotations?: Record<string, string> }) => m.annotations?.['org.opencontainers.image.ref.name'] !== 'rev-4',
    );
    writeFileSync(join(backend.dir, 'index.json'), JSON.stringify(index));
    const archives = new Map<string, { revision: number; issuer: string; subject: string; capid?: string; version?: string }>([
      [entries[0].digest, { revision: 1, issuer, subject: 'V' + 'D'.repeat(55), version: '1.0.1' }],
      [entries[1].digest, { revision: 2, issuer, subject, capid: 'acme:kv', version: '1.0.2' }],
    ]);
    const problems = await problemsOf(backend, {
      readArchive: async (d) => {
        const a = archives.get(d);
        if (!a) throw new Error('claims signature does not verify');
        return a;
      },
    });
    expect(problems).toEqual(
      [
        {
          code: 'TLOG_DUPLICATE_REVISION',
          message: `${backend.description}: entry 4 records revision 1 as ${entries[0].digest}, an earlier entry as ${entries[0].digest}`,
        },
        {
          code: 'TLOG_TAG_MISMATCH',
          message: `${backend.description}: rev-3 names ${(await backend.getManifest('rev-3'))!.digest}, the log records ${entries[2].digest}; the tag was re-pointed`,
        },
        {
          code: 'TLOG_TAG_MISMATCH',
          message: `${backend.description}: the archive ${entries[0].digest} (revision 1) has other subject, capid than its log entry`,
        },
        {
          code: 'TLOG_TAG_MISMATCH',
          message: `${backend.description}: the log records revision 4 (${entries[3].digest}) but the tag rev-4 is gone`,
        },
      ].sort((a, b) => a.code.localeCompare(b.code) || a.message.localeCompare(b.message)),
    );
  });

  it('an archive that does not verify, or differs in revision, issuer or version, is named', async () => {
    const { backend, entries } = await logOf([1, 2, 3]);
    const claims = new Map([
      [entries[0].digest, { revision: 9, issuer, subject, capid: 'acme:kv', version: '1.0.1' }],
      [entries[1].digest, { revision: 2, issuer: 'A' + 'Q'.repeat(55), subject, capid: 'acme:kv', version: 'x' }],
    ]);
    const problems = await problemsOf(backend, {
      readArchive: async (d) => {
        const c = claims.get(d);
        if (!c) throw new Error('PAR_SIGNATURE_INVALID: bad');
        return c;
      },
    });
    expect(problems.map((p) => p.message)).toEqual([
      `${backend.description}: the archive ${entries[0].digest} (revision 1) has other revision than its log entry`,
      `${backend.description}: the archive ${entries[1].digest} (revision 2) has other issuer, version than its log entry`,
      `${backend.description}: the archive ${entries[2].digest} of revision 3 does not verify: PAR_SIGNATURE_INVALID: bad`,
    ]);
    // absent capid and version read as empty, as the entry writes them
    const bare = await logOf([1]);
    const e = { ...bare.entries[0] };
    const b2 = layout();
    await storeEntry(b2, 0, { ...e, capid: '', version: '' });
    await b2.putManifest('rev-1', (await bare.backend.getManifest('rev-1'))!.bytes, OCI_MANIFEST);
    await checkpointLog(b2, { signer });
    expect(await problemsOf(b2, { readArchive: async () => ({ revision: 1, issuer, subject }) })).toEqual([]);
  });

  it('a trusted checkpoint the log does not extend: rollback and fork, prefixed', async () => {
    const { backend, entries, notes } = await logOf([1, 2]);
    const bigger = noteOver([...entries, entries[0]], 3, backend.description);
    const rb = await problemsOf(backend, { trusted: bigger });
    expect(rb.map((p) => p.code)).toEqual(['TLOG_ROLLBACK']);
    expect(
      rb[0].message.startsWith(`against the trusted checkpoint: ${backend.description}: the log's latest checkpoint has 2 entries`),
    ).toBe(true);
    const fork = await problemsOf(backend, { trusted: noteOver([entries[1]], 1, backend.description) });
    expect(fork.map((p) => p.code)).toEqual(['TLOG_FORK']);
    expect(await problemsOf(backend, { trusted: notes[0] })).toEqual([]);
  });
});

describe('checkpointing a log', () => {
  it('writes the checkpoint of the asked prefix once, returns a larger one found, and refuses sizes beyond the log', async () => {
    const { backend, notes } = await logOf([1, 2, 3]);
    const found = await checkpointLog(backend, { signer, size: 2 });
    expect(found.note).toBe(notes[2]);
    const r = await refusal(checkpointLog(backend, { signer, size: 5 }));
    expect(r).toEqual({ code: 'TLOG_ENTRY_MISSING', message: `${backend.description}: asked to checkpoint 5 entries, only 3 are stored` });
    const b = layout();
    for (const [i, rev] of [1, 2, 3].entries()) await storeEntry(b, i, await publish(b, rev));
    const two = await checkpointLog(b, { signer, size: 2 });
    expect(two.checkpoint.size).toBe(2);
    expect(two.signedBy).toEqual([`gantry-test-log+${signer.keyHash}`]);
    expect((await openLog(b)).checkpointSizes).toEqual([2]);
    expect((await checkpointLog(b, { signer })).checkpoint.size).toBe(3);
    expect((await openLog(b)).checkpointSizes).toEqual([2, 3]);
  });

  it('checkpoints under the origin it is given, and never a log whose entries were rewritten', async () => {
    const b = layout();
    await storeEntry(b, 0, await publish(b, 1));
    const c = await checkpointLog(b, { signer, origin: 'mirror.example/acme/kv' });
    expect(c.checkpoint.origin).toBe('mirror.example/acme/kv');
    expect(c.checkpoint.extensions).toEqual([]);
    // a tiled log's history is its tiles: a rewritten bundle is refused before anything is built on it
    const { backend, entries } = await logOf([1, 2]);
    const id = { index: 0, width: 2 };
    const forged = tiles.encodeBundle([entries[0], { ...entries[1], version: 'rewritten' }].map((e) => encodeEntry(e)));
    await storeTiles(backend, [{ kind: 'entries', path: tiles.bundlePath(id), id, bytes: forged }]);
    await storeEntry(backend, 2, await publish(backend, 3));
    expect((await refusal(checkpointLog(backend, { signer }))).code).toBe('TLOG_TILE_MISMATCH');
    // a log written before tiles: its entry tags are its history, rewritten they are refused
    const old = layout();
    const first = await publish(old, 1);
    await storeEntry(old, 0, first);
    const root = rootOf([leafHash(encodeEntry(first))], 1);
    await storeCheckpointNote(old, 1, signNote(formatCheckpoint({ origin: old.description, size: 1, root, extensions: [] }), [signer]));
    await storeEntry(old, 0, { ...first, version: 'rewritten' });
    await storeEntry(old, 1, await publish(old, 2));
    expect((await refusal(checkpointLog(old, { signer }))).code).toBe('TLOG_ROOT_MISMATCH');
  });

  it("another key's log is never extended, and the refusal says whose it is not", async () => {
    const { backend } = await logOf([1]);
    await storeEntry(backend, 1, await publish(backend, 2));
    const r = await refusal(checkpointLog(backend, { signer: otherSigner }));
    expect(r).toEqual({
      code: 'TLOG_NOTE_UNVERIFIED',
      message: `${backend.description}: the log's checkpoint is not signed by gantry-test-log+${otherSigner.keyHash}; this log belongs to another key — push with that key`,
    });
    expect((await refusal(appendToLog(backend, await publish(backend, 3), { signer: otherSigner }))).code).toBe('TLOG_NOTE_UNVERIFIED');
    expect((await openLog(backend)).checkpointSizes).toEqual([1]);
  });

  it('appendToLog refuses before writing: a wait not longer than Δ, a bad entry, another digest for a logged revision', async () => {
    const { backend, entries } = await logOf([1]);
    const tags = async () => (await backend.listTags()).sort();
    const before = await tags();
    expect(await refusal(appendToLog(backend, entries[0], { signer, deltaMs: 100, waitMs: 100 }))).toEqual({
      code: 'TLOG_BAD_INDEX',
      message: 'the confirmation wait (100 ms) must be longer than the write bound Δ (100 ms)',
    });
    expect((await refusal(appendToLog(backend, { ...entries[0], revision: -2 }, { signer }))).code).toBe('TLOG_ENTRY_MALFORMED');
    const dup = await refusal(appendToLog(backend, { ...entries[0], digest: 'sha256:' + '0'.repeat(64) }, { signer }));
    expect(dup).toEqual({
      code: 'TLOG_DUPLICATE_REVISION',
      message: `${backend.description}: the log already records revision 1 as ${entries[0].digest}, not sha256:${'0'.repeat(64)}; a published revision never changes — push a higher revision`,
    });
    expect(await tags()).toEqual(before);
    // the same entry again is found, not appended, and keeps its checkpoint
    const again = await appendToLog(backend, entries[0], { signer, deltaMs: 10, waitMs: 11 });
    expect(again).toMatchObject({ index: 0, appended: false, contended: 0, checkpoint: { checkpoint: { size: 1 } } });
  });
});
