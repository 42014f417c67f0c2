/**
 * A log read through its tiles (tlog/log/tiled.ts) and the tiles as the repository holds them
 * (tlog/log/tiles-store.ts), on an OCI image-layout directory: what appends write (tiles,
 * tlog.revision.<r>, tlog.checkpoint), and each way a registry can lie about them refused with
 * its own code — a tile that is not a tile, a lying revision pointer, a tlog.checkpoint that
 * disagrees with its immutable tag, a rolled-back or forked log against a trusted checkpoint.
 * A log written before tiles is read the old way behind the same interface, and its first
 * append migrates it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../registry/digest.js';
import { ImageLayoutBackend } from '../../registry/index.js';
import { OCI_MANIFEST } from '../../registry/media-types.js';
import {
  appendToLog,
  checkpointLog,
  checkpointTag,
  encodeEntry,
  formatCheckpoint,
  generateNoteKey,
  isTlogError,
  LATEST_CHECKPOINT_TAG,
  leafHash,
  type LogEntry,
  logRevisionTag,
  openTiledLog,
  parseSignerKey,
  parseVerifierKey,
  registryTileSource,
  rootOf,
  signNote,
  storeCheckpointNote,
  storeEntry,
  storeTiles,
  tiles,
} from '../../tlog/index.js';
import { checkpointManifest, entryManifest, manifestFor } from '../../tlog/log/artifact.js';
import { LOG_BUNDLE_MEDIA_TYPE, LOG_HASH_TILE_MEDIA_TYPE, LOG_TILE_ARTIFACT_TYPE, MAX_TILE_BLOB_BYTES } from '../../tlog/log/layout.js';

const root = mkdtempSync(join(tmpdir(), 'gantry-tiled-log-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const key = generateNoteKey('gantry-test-log');
const signer = parseSignerKey(key.signerKey);
const verifiers = [parseVerifierKey(key.verifierKey)];
const fast = { signer, deltaMs: 200, waitMs: 300 };

function layout(): ImageLayoutBackend {
  return new ImageLayoutBackend(join(root, `repo-${n++}`));
}

function entry(revision: number, over: Partial<LogEntry> = {}): LogEntry {
  const digest = sha256Digest(new Uint8Array(Buffer.from(`archive ${revision} ${over.version ?? ''}`)));
  return {
    revision,
    digest,
    issuer: `A${'B'.repeat(55)}`,
    subject: `V${'C'.repeat(55)}`,
    capid: 'acme:kv',
    version: `1.0.${revision}`,
    ...over,
  };
}

/** A tiled log of revisions 1..count, each entry checkpointed as the append does. */
async function tiledLog(count: number): Promise<{ b: ImageLayoutBackend; entries: LogEntry[] }> {
  const b = layout();
  const entries: LogEntry[] = [];
  for (let r = 1; r <= count; r++) {
    entries.push(entry(r));
    await storeEntry(b, r - 1, entries.at(-1)!);
    await checkpointLog(b, { signer });
  }
  return { b, entries };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (isTlogError(e)) return e.code;
    throw e;
  }
}

async function messageOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as Error).message;
  }
  return 'ok';
}

const rootOfEntries = (entries: LogEntry[], size = entries.length) =>
  rootOf(
    entries.map((e) => leafHash(encodeEntry(e))),
    size,
  );

describe('what a checkpoint writes', () => {
  it('tiles for the growth, tlog.revision.<r> per new entry, tlog.checkpoint.<n> and tlog.checkpoint; proofs read back from them', async () => {
    const { b, entries } = await tiledLog(3);
    const tags = await b.listTags();
    for (const t of [
      'tlog.tile.0.0.p.3',
      'tlog.bundle.0.p.3',
      'tlog.tile.0.0.p.1',
      'tlog.revision.1',
      'tlog.revision.3',
      'tlog.checkpoint.3',
      LATEST_CHECKPOINT_TAG,
    ])
      expect(tags, t).toContain(t);
    const log = await openTiledLog(b);
    expect(log.layout).toBe('tiles');
    expect(log.empty).toBe(false);
    const latest = await log.latestCheckpoint(verifiers);
    expect(latest.checkpoint.size).toBe(3);
    expect(Buffer.from(latest.checkpoint.root)).toEqual(Buffer.from(rootOfEntries(entries)));
    expect(await log.findRevision(2, latest.checkpoint)).toEqual({ index: 1, entry: entries[1] });
    expect(await log.findRevision(9, latest.checkpoint)).toBeUndefined();
    expect(await log.highestRevision(latest.checkpoint)).toBe(3);
    const evidence = await log.proveRevision(3, entries[2].digest, verifiers, (await checkpointLogNote(b, 1))!);
    expect(evidence.inclusion).toMatchObject({ revision: 3, index: 2, treeSize: 3 });
    expect(evidence.consistency?.length).toBeGreaterThan(0);
    // a tile's layer is titled with its C2SP path, '/' as '-' (oras writes titles as file names)
    const m = JSON.parse(Buffer.from((await b.getManifest('tlog.bundle.0.p.3'))!.bytes).toString('utf8'));
    expect(m.layers[0].annotations['org.opencontainers.image.title']).toBe('tile-entries-000.p-3');
  });

  it('appends probe from the checkpoint, refuse a second entry for a logged revision, and keep a revision already there', async () => {
    const { b, entries } = await tiledLog(2);
    expect(await codeOf(appendToLog(b, entry(1, { version: 'other' }), fast))).toBe('TLOG_DUPLICATE_REVISION');
    expect(await appendToLog(b, entries[0], fast)).toMatchObject({ index: 0, appended: false });
    // an entry stored after the checkpoint (an interrupted push) counts too
    await storeEntry(b, 2, entry(3));
    expect(await codeOf(appendToLog(b, entry(3, { version: 'other' }), fast))).toBe('TLOG_DUPLICATE_REVISION');
    const r = await appendToLog(b, entry(4), fast);
    expect(r).toMatchObject({ index: 3, appended: true });
    expect(r.checkpoint.checkpoint.size).toBe(4);
    const log = await openTiledLog(b);
    expect((await log.latestCheckpoint(verifiers)).checkpoint.size).toBe(4);
    expect((await log.findRevision(3, r.checkpoint.checkpoint))?.index).toBe(2);
  });

  it('a log written before tiles is read the old way, and its first append writes tiles for all of it', async () => {
    const b = layout();
    const old = [entry(1), entry(2)];
    for (const [i, e] of old.entries()) await storeEntry(b, i, e);
    await storeCheckpointNote(
      b,
      2,
      signNote(formatCheckpoint({ origin: b.description, size: 2, root: rootOfEntries(old), extensions: [] }), [signer]),
    );
    const before = await openTiledLog(b);
    expect(before.layout).toBe('entries');
    const cp = (await before.latestCheckpoint(verifiers)).checkpoint;
    expect(await before.findRevision(2, cp)).toEqual({ index: 1, entry: old[1] });
    expect(await before.findRevision(9, cp)).toBeUndefined();
    // an entry stored after the checkpoint is not in its tree
    const pending = await openTiledLog(b);
    await storeEntry(b, 2, entry(3));
    const withPending = await openTiledLog(b);
    expect(await withPending.findRevision(3, cp)).toBeUndefined();
    expect(await withPending.findRevision(3, { ...cp, size: 3 })).toEqual({ index: 2, entry: entry(3) });
    expect(pending.empty).toBe(false);
    expect((await openTiledLog(layout())).empty).toBe(true);
    expect(await before.highestRevision(cp)).toBe(2);
    expect((await before.tree(cp).inclusionProof(0)).length).toBe(1);
    // the interrupted push's entry is found and checkpointed, and the whole log migrated to tiles
    expect(await appendToLog(b, entry(3), fast)).toMatchObject({ index: 2, appended: false });
    const after = await openTiledLog(b);
    expect(after.layout).toBe('tiles');
    const latest = await after.latestCheckpoint(verifiers);
    expect(latest.checkpoint.size).toBe(3);
    expect((await after.checkExtends(cp, latest.checkpoint)).length).toBeGreaterThan(0);
    expect(await after.findRevision(1, latest.checkpoint)).toEqual({ index: 0, entry: old[0] });
  });
});

/** The note of tlog.checkpoint.<size>. */
async function checkpointLogNote(b: ImageLayoutBackend, size: number): Promise<string | undefined> {
  const m = await b.getManifest(checkpointTag(size));
  if (!m) return undefined;
  const doc = JSON.parse(Buffer.from(m.bytes).toString('utf8'));
  return Buffer.from(doc.layers[0].data, 'base64').toString('utf8');
}

describe('tiles that are not tiles', () => {
  const hashId = { level: 0, index: 0, width: 2 };

  it('a wrong artifact type, media type, an oversized or mis-sized layer, an embedded copy that is not the layer: TLOG_TILE_MALFORMED', async () => {
    const b = layout();
    const source = registryTileSource(b);
    const put = (mediaType: string, content: Uint8Array, artifactType = LOG_TILE_ARTIFACT_TYPE) =>
      b.putManifest('tlog.tile.0.0.p.2', manifestFor(artifactType, mediaType, content, 'x'), OCI_MANIFEST);
    await put(LOG_HASH_TILE_MEDIA_TYPE, new Uint8Array(64), 'application/vnd.other');
    expect(await codeOf(source.hashTile(hashId))).toBe('TLOG_TILE_MALFORMED');
    await put(LOG_BUNDLE_MEDIA_TYPE, new Uint8Array(64));
    expect(await codeOf(source.hashTile(hashId))).toBe('TLOG_TILE_MALFORMED');
    await put(LOG_HASH_TILE_MEDIA_TYPE, new Uint8Array(96));
    expect(await messageOf(source.hashTile(hashId))).toContain('holds 96 bytes, not the 2 hashes of 64 bytes its tag names');
    await put(LOG_HASH_TILE_MEDIA_TYPE, new Uint8Array(MAX_TILE_BLOB_BYTES + 1));
    expect(await codeOf(source.hashTile(hashId))).toBe('TLOG_TILE_MALFORMED');
    const doc = JSON.parse(
      Buffer.from(manifestFor(LOG_TILE_ARTIFACT_TYPE, LOG_HASH_TILE_MEDIA_TYPE, new Uint8Array(64), 'x')).toString('utf8'),
    );
    doc.layers[0].data = Buffer.alloc(64, 1).toString('base64');
    await b.putManifest('tlog.tile.0.0.p.2', new Uint8Array(Buffer.from(JSON.stringify(doc))), OCI_MANIFEST);
    expect(await codeOf(source.hashTile(hashId))).toBe('TLOG_TILE_MALFORMED');
    await b.putManifest('tlog.tile.0.0.p.2', new Uint8Array(Buffer.from('not json')), OCI_MANIFEST);
    expect(await codeOf(source.hashTile(hashId))).toBe('TLOG_TILE_MALFORMED');
    // the largest tile there may be is read
    await put(LOG_BUNDLE_MEDIA_TYPE, new Uint8Array(MAX_TILE_BLOB_BYTES));
    await b.putManifest('tlog.bundle.0.p.2', (await b.getManifest('tlog.tile.0.0.p.2'))!.bytes, OCI_MANIFEST);
    expect((await source.bundle({ index: 0, width: 2 }))?.length).toBe(MAX_TILE_BLOB_BYTES);
  });

  it('an absent tile is undefined; an absent partial tile is read from its full tile', async () => {
    const b = layout();
    const source = registryTileSource(b);
    expect(await source.hashTile(hashId)).toBeUndefined();
    expect(await source.bundle({ index: 0, width: 2 })).toBeUndefined();
    const full = new Uint8Array(256 * 32).map((_, i) => i % 251);
    const id = { level: 0, index: 0, width: 256 };
    await storeTiles(b, [{ kind: 'hash', path: tiles.hashTilePath(id), id, bytes: full }]);
    expect(Buffer.from((await source.hashTile(hashId))!)).toEqual(Buffer.from(full.subarray(0, 64)));
    expect((await source.hashTile(id))?.length).toBe(256 * 32);
    expect(await source.hashTile({ level: 1, index: 0, width: 1 })).toBeUndefined();
  });
});

describe('what a reader refuses', () => {
  it("a revision pointer at another revision's leaf is TLOG_ENTRY_MALFORMED; one past the tree finds nothing; one without an index is refused", async () => {
    const { b, entries } = await tiledLog(2);
    const log = await openTiledLog(b);
    const cp = (await log.latestCheckpoint(verifiers)).checkpoint;
    await b.putManifest(logRevisionTag(7), entryManifest(0, encodeEntry(entries[0])), OCI_MANIFEST);
    expect(await messageOf(log.findRevision(7, cp))).toContain('points at leaf 0, which logs revision 1, not 7: a lying revision pointer');
    expect(await codeOf(log.findRevision(7, cp))).toBe('TLOG_ENTRY_MALFORMED');
    await b.putManifest(logRevisionTag(8), entryManifest(5, encodeEntry(entry(8))), OCI_MANIFEST);
    expect(await log.findRevision(8, cp)).toBeUndefined();
    const doc = JSON.parse(Buffer.from(entryManifest(0, encodeEntry(entries[0]))).toString('utf8'));
    for (const bad of [undefined, '-1', 'x']) {
      doc.annotations = bad === undefined ? undefined : { 'dev.gantry.log.index': bad };
      await b.putManifest(logRevisionTag(9), new Uint8Array(Buffer.from(JSON.stringify(doc))), OCI_MANIFEST);
      expect(await messageOf(log.findRevision(9, cp)), String(bad)).toBe(
        `${b.description}:tlog.revision.9 names no leaf index (annotation dev.gantry.log.index)`,
      );
      expect(await codeOf(log.findRevision(9, cp)), String(bad)).toBe('TLOG_ENTRY_MALFORMED');
    }
    // the highest revision offered skips pointers that lie or point past the tree
    expect(await log.highestRevision(cp)).toBe(2);
  });

  it('proveRevision: an unlogged revision, a re-pointed tag, and the consistency with a trusted checkpoint', async () => {
    const { b, entries } = await tiledLog(3);
    const log = await openTiledLog(b);
    expect(await messageOf(log.proveRevision(5, entries[0].digest, verifiers))).toBe(
      `${b.description}: revision 5 is not in the log's latest checkpoint (size 3)`,
    );
    expect(await codeOf(log.proveRevision(5, entries[0].digest, verifiers))).toBe('TLOG_UNLOGGED_REVISION');
    expect(await codeOf(log.proveRevision(2, entries[0].digest, verifiers))).toBe('TLOG_TAG_MISMATCH');
    expect(await messageOf(log.proveRevision(2, entries[0].digest, verifiers))).toBe(
      `${b.description}: revision 2 resolves to ${entries[0].digest}, the log records ${entries[1].digest}; the tag was re-pointed`,
    );
    expect((await log.proveRevision(2, entries[1].digest, verifiers)).consistency).toBeUndefined();
    const trusted = (await checkpointLogNote(b, 3))!;
    expect((await log.proveRevision(2, entries[1].digest, verifiers, trusted)).consistency).toEqual([]);
  });

  it('checkExtends: a smaller tree is TLOG_ROLLBACK, other history TLOG_FORK, a proof that does not link TLOG_FORK', async () => {
    const { b, entries } = await tiledLog(4);
    const log = await openTiledLog(b);
    const latest = (await log.latestCheckpoint(verifiers)).checkpoint;
    const at = (size: number, es = entries) => ({ origin: b.description, size, root: rootOfEntries(es, size), extensions: [] });
    expect(await codeOf(log.checkExtends(at(5, [...entries, entry(5)]), latest))).toBe('TLOG_ROLLBACK');
    expect(await log.checkExtends(at(0), latest)).toEqual([]);
    expect(await log.checkExtends(at(4), latest)).toEqual([]);
    expect((await log.checkExtends(at(3), latest)).length).toBeGreaterThan(0);
    const other = [entry(1, { version: 'forked' }), ...entries.slice(1)];
    expect(await messageOf(log.checkExtends(at(2, other), latest))).toContain('the first 2 entries of this log hash to');
    expect(await codeOf(log.checkExtends(at(2, other), latest))).toBe('TLOG_FORK');
  });

  it("tlog.checkpoint must be what its immutable tag holds; one behind a trusted checkpoint is read from that checkpoint's tag", async () => {
    const { b, entries } = await tiledLog(3);
    const note = (size: number, es = entries) =>
      signNote(formatCheckpoint({ origin: b.description, size, root: rootOfEntries(es, size), extensions: [] }), [signer]);
    const setLatest = (size: number, text: string) =>
      b.putManifest(LATEST_CHECKPOINT_TAG, checkpointManifest(size, new Uint8Array(Buffer.from(text))), OCI_MANIFEST);
    // lagging: tlog.checkpoint names 2, a reader trusting 3 reads tlog.checkpoint.3
    await setLatest(2, note(2));
    const lag = await openTiledLog(b);
    expect((await lag.latestCheckpoint(verifiers)).checkpoint.size).toBe(2);
    const three = (await (await openTiledLog(b)).proveRevision(3, entries[2].digest, verifiers, note(3))).checkpoint;
    expect(three.checkpoint.size).toBe(3);
    // rolled back for real: no tlog.checkpoint.3 to read
    const gone = await tiledLog(3);
    await gone.b.putManifest(LATEST_CHECKPOINT_TAG, (await gone.b.getManifest(checkpointTag(2)))!.bytes, OCI_MANIFEST);
    const rolled = await openTiledLog(gone.b);
    const trusted = { origin: gone.b.description, size: 4, root: rootOfEntries([...gone.entries, entry(4)]), extensions: [] };
    expect(await messageOf(rolled.latestCheckpoint(verifiers, trusted))).toContain(
      "the log's latest checkpoint has 2 entries, fewer than the 4 of a checkpoint already trusted",
    );
    // a second signed history of the same size under tlog.checkpoint
    const forked = [entries[0], entry(2, { version: 'forked' }), entries[2]];
    await setLatest(3, note(3, forked));
    expect(await codeOf((await openTiledLog(b)).latestCheckpoint(verifiers))).toBe('TLOG_FORK');
    expect(await messageOf((await openTiledLog(b)).latestCheckpoint(verifiers))).toContain(
      'tlog.checkpoint and tlog.checkpoint.3 are two signed checkpoints of size 3 with different roots',
    );
    // an older note under tlog.checkpoint.<n> than tlog.checkpoint names
    await storeCheckpointNote(b, 3, note(2));
    await setLatest(3, note(3));
    expect(await codeOf((await openTiledLog(b)).latestCheckpoint(verifiers))).toBe('TLOG_ROLLBACK');
    // tlog.checkpoint naming a size whose immutable tag is absent
    await setLatest(5, note(5, [...entries, entry(4), entry(5)]));
    expect(await messageOf((await openTiledLog(b)).latestCheckpoint(verifiers))).toBe(
      `${b.description}:tlog.checkpoint serves a checkpoint of size 5, but tlog.checkpoint.5 is absent`,
    );
    expect(await codeOf((await openTiledLog(b)).latestCheckpoint(verifiers))).toBe('TLOG_CHECKPOINT_MALFORMED');
  });

  it('a tree whose tiles do not hash to the signed root is TLOG_TILE_MISMATCH before anything is read from it', async () => {
    const { b } = await tiledLog(2);
    const id = { level: 0, index: 0, width: 2 };
    await storeTiles(b, [{ kind: 'hash', path: tiles.hashTilePath(id), id, bytes: new Uint8Array(64) }]);
    expect(await codeOf((await openTiledLog(b)).latestCheckpoint(verifiers))).toBe('TLOG_TILE_MISMATCH');
    expect(await codeOf(appendToLog(b, entry(3), fast))).toBe('TLOG_TILE_MISMATCH');
  });

  it('only the log key extends a tiled log', async () => {
    const { b } = await tiledLog(1);
    const other = parseSignerKey(generateNoteKey('gantry-test-log').signerKey);
    expect(await messageOf(appendToLog(b, entry(2), { ...fast, signer: other }))).toContain('this log belongs to another key');
  });
});
