/**
 * The log sequencer against a real registry (Debian docker-registry), over its HTTP API as a
 * pusher or monitor speaks it: appends give a log that verifies end to end; ten concurrent
 * appends give ten entries without a gap; a push that appends on its own (Fischer) while the
 * lease is held is refused with TLOG_SEQUENCED — before its claim, and after its confirmation
 * wait when the lease was taken meanwhile; an attacker who can push to the registry cannot
 * get an unsigned, untrusted-issuer, tampered or re-tagged archive logged, each refused with its own code
 * and nothing appended; a monitor's checkpoint is answered with a consistency proof, or
 * TLOG_FORK / TLOG_ROLLBACK; a sequencer whose lease was taken over appends nothing more.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openArchiveStore,
  openContentBackend,
  OCI_MANIFEST,
  revisionTag,
  sha256Digest,
  type ContentBackend,
} from '../../registry/index.js';
import {
  appendToLog,
  decodeBase64,
  entryTag,
  formatCheckpoint,
  generateNoteKey,
  isTlogError,
  listenSequencer,
  logEntryOf,
  openLog,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  readLease,
  requestAppend,
  requestConsistent,
  Sequencer,
  SequencerRefusedError,
  signNote,
  takeLease,
  verifyConsistency,
  verifyLog,
  openNote,
  type SequencerServer,
  type ServedLog,
} from '../../tlog/index.js';
import { freePort } from '../support/ports.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { conformance, makeArchive, newSigner } from '../registry/fixtures.js';

const keys = generateNoteKey('gantry-test-seq');
const signer = parseSignerKey(keys.signerKey);
const verifier = parseVerifierKey(keys.verifierKey);
const issuer = newSigner();

let reg: RegistryServer;
let server: SequencerServer;
const served: Record<string, ServedLog> = {};
const opts = () => ({ plainHttpRegistries: [reg.host] });

async function serveRepo(name: string): Promise<ServedLog> {
  const ref = `${reg.host}/seq/${name}`;
  const backend = openContentBackend(ref, opts());
  return { ref, store: openArchiveStore(ref, opts()), backend, lease: await takeLease(backend, { url: server.url, waitMs: 0 }) };
}

beforeAll(async () => {
  reg = await startRegistry();
  server = await listenSequencer('127.0.0.1', 0);
  for (const name of ['main', 'attacks', 'fischer', 'takeover']) served[name] = await serveRepo(name);
  server.serve(new Sequencer(signer, Object.values(served), [issuer.issuer]));
});
afterAll(async () => {
  await server?.close();
  await reg?.stop();
});

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const entryTags = async (b: ContentBackend) => (await b.listTags()).filter((t) => t.startsWith('tlog.entry.'));

async function pushRevision(log: ServedLog, revision: number, by = issuer) {
  return log.store.push(await makeArchive(by, revision, { format: 'tar' }));
}

describe('the sequencer on a real registry', () => {
  it('appends each pushed revision at once; the log verifies end to end, archives included', async () => {
    const log = served.main;
    const notes: string[] = [];
    for (const r of [1, 2, 3]) {
      const pushed = await pushRevision(log, r);
      const { status, json } = await post('/v1/append', { repository: log.ref, revision: r, digest: pushed.digest });
      expect(status).toBe(200);
      expect(json).toMatchObject({ repository: log.ref, revision: r, digest: pushed.digest, index: r - 1, appended: true, treeSize: r });
      notes.push(json.checkpoint as string);
    }
    // asked again: the same entry, not a second one
    expect((await post('/v1/append', { repository: log.ref, revision: 2 })).json).toMatchObject({ index: 1, appended: false, treeSize: 3 });
    const cp = parseCheckpoint(openNote(notes[2], [verifier]).text);
    expect(cp).toMatchObject({ origin: log.ref, size: 3 });
    const result = await verifyLog(log.backend, {
      verifiers: [verifier],
      trusted: notes[0],
      readArchive: async (digest) => (await log.store.pull(digest, { trustedIssuers: [issuer.issuer] })).verified.claims,
    });
    expect(result.problems).toEqual([]);
    expect(result).toMatchObject({ ok: true, size: 3, uncheckpointed: 0 });
  });

  it('ten concurrent appends give ten entries, no gaps, every one checkpointed', async () => {
    const log = served.main;
    const before = (await openLog(log.backend)).size;
    const revisions = Array.from({ length: 10 }, (_, i) => 10 + i);
    for (const r of revisions) await pushRevision(log, r);
    const replies = await Promise.all(revisions.map((r) => post('/v1/append', { repository: log.ref, revision: r })));
    expect(replies.map((r) => r.status)).toEqual(revisions.map(() => 200));
    const indices = replies.map((r) => r.json.index as number).sort((a, b) => a - b);
    expect(indices).toEqual(revisions.map((_, i) => before + i));
    const stored = await openLog(log.backend);
    expect(stored.size).toBe(before + 10);
    expect(stored.strayEntryIndices).toEqual([]);
    expect(new Set(stored.entries.map((e) => e.revision))).toEqual(new Set([1, 2, 3, ...revisions]));
    expect((await stored.latestCheckpoint([verifier])).checkpoint.size).toBe(before + 10);
  });

  it('a push appending on its own while the lease is held is refused with TLOG_SEQUENCED naming the sequencer, and appends nothing', async () => {
    const log = served.main;
    const pushed = await pushRevision(log, 30);
    const tags = await entryTags(log.backend);
    const err = await appendToLog(log.backend, logEntryOf(pushed), { signer, deltaMs: 1000 }).catch((e) => e);
    expect(isTlogError(err) && err.code).toBe('TLOG_SEQUENCED');
    expect(err.message).toContain(`--log-sequencer ${server.url}`);
    expect(await entryTags(log.backend)).toEqual(tags);
  });

  it('a push whose claim began before the lease was taken refuses after its confirmation wait; its entry stays for the sequencer', async () => {
    const ref = `${reg.host}/seq/late-lease`;
    const backend = openContentBackend(ref, opts());
    const store = openArchiveStore(ref, opts());
    const pushed = await store.push(await makeArchive(issuer, 1, { format: 'tar' }));
    const appending = appendToLog(backend, logEntryOf(pushed), { signer, deltaMs: 1000, waitMs: 4000 }).catch((e) => e);
    // the exact state: the claim is written and the appender is in its confirmation wait
    for (let i = 0; i < 400 && !(await backend.getManifest(entryTag(0))); i++) await new Promise((r) => setTimeout(r, 10));
    await takeLease(backend, { url: 'http://127.0.0.1:1', waitMs: 0 });
    const err = await appending;
    expect(isTlogError(err) && err.code).toBe('TLOG_SEQUENCED');
    expect(await entryTags(backend)).toEqual([entryTag(0)]);
  });

  it('refuses to log an untrusted-issuer, unsigned or tampered archive (each its own code) and appends nothing', async () => {
    const log = served.attacks;
    // a revision by an issuer the sequencer does not trust, pushed by someone with push rights
    await pushRevision(log, 1, newSigner());
    // archives planted under rev tags beside a config copied from a genuine archive of that revision
    await plant(log.backend, 2, readFileSync(conformance('wascap', 'synthetic', 'neg_no_claims.par')));
    await plant(log.backend, 3, tamper(await makeArchive(issuer, 3, { format: 'tar' })));
    const genuine = await pushRevision(log, 4);
    // a genuine archive of revision 4 re-tagged as revision 6
    await log.backend.putManifest(revisionTag(6), (await log.backend.getManifest(genuine.digest))!.bytes, OCI_MANIFEST);
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ revision: 1 }, 422, 'PAR_UNTRUSTED_ISSUER'],
      [{ revision: 2 }, 422, 'PAR_UNSIGNED'],
      [{ revision: 3 }, 422, 'PAR_HASH_MISMATCH'],
      [{ revision: 4, digest: `sha256:${'0'.repeat(64)}` }, 409, 'TLOG_TAG_MISMATCH'],
      [{ revision: 6 }, 409, 'TLOG_TAG_MISMATCH'],
      [{ revision: 9 }, 404, 'REVISION_NOT_FOUND'],
    ];
    for (const [body, status, code] of cases) {
      const r = await post('/v1/append', { repository: log.ref, ...body });
      expect({ body, status: r.status, code: r.json.code }).toEqual({ body, status, code });
      expect(r.json.message).toEqual(expect.any(String));
    }
    expect(await entryTags(log.backend)).toEqual([]);
    expect(genuine.revision).toBe(4);
  });

  it('answers a monitor: a proof to its latest checkpoint, TLOG_FORK for a forked one, TLOG_ROLLBACK for a larger one', async () => {
    const log = served.main;
    const stored = await openLog(log.backend);
    const first = (await stored.checkpointNote(1))!.note;
    const latest = await stored.latestCheckpoint([verifier]);
    const ok = await post('/v1/consistent', { checkpoint: first });
    expect(ok).toMatchObject({ status: 200, json: { consistent: true, from: 1, to: latest.checkpoint.size, checkpoint: latest.note } });
    const from = parseCheckpoint(openNote(first, [verifier]).text);
    verifyConsistency(
      1,
      latest.checkpoint.size,
      (ok.json.proof as string[]).map((h) => decodeBase64(h)!),
      from.root,
      latest.checkpoint.root,
    );
    expect((await post('/v1/consistent', { checkpoint: latest.note, repository: log.ref })).json).toMatchObject({
      from: latest.checkpoint.size,
      proof: [],
    });
    const forged = (size: number) =>
      signNote(formatCheckpoint({ origin: log.ref, size, root: new Uint8Array(32).fill(7), extensions: [] }), [signer]);
    expect(await post('/v1/consistent', { checkpoint: forged(2) })).toMatchObject({ status: 409, json: { code: 'TLOG_FORK' } });
    expect(await post('/v1/consistent', { checkpoint: forged(latest.checkpoint.size + 5) })).toMatchObject({
      status: 409,
      json: { code: 'TLOG_ROLLBACK' },
    });
    const stranger = parseSignerKey(generateNoteKey('gantry-test-seq').signerKey);
    const unsigned = signNote(formatCheckpoint({ origin: log.ref, size: 1, root: from.root, extensions: [] }), [stranger]);
    expect(await post('/v1/consistent', { checkpoint: unsigned })).toMatchObject({ status: 400, json: { code: 'TLOG_NOTE_UNVERIFIED' } });
    expect(await post('/v1/consistent', { checkpoint: 'other.example/log\n1\nAAAA\n' })).toMatchObject({
      status: 404,
      json: { code: 'NOT_SERVED' },
    });
    // the same through the client a monitor uses: the refusal keeps the sequencer's code
    expect((await requestConsistent(server.url, { checkpoint: first })).to).toBe(latest.checkpoint.size);
    const refused = await requestConsistent(server.url, { checkpoint: forged(2) }).catch((e) => e);
    expect(refused).toBeInstanceOf(SequencerRefusedError);
    expect(refused).toMatchObject({ code: 'TLOG_SEQUENCER_REFUSED', refusal: { status: 409, code: 'TLOG_FORK' } });
    const gone = await requestAppend(`http://127.0.0.1:${await freePort()}`, { repository: log.ref, revision: 1 }).catch((e) => e);
    expect(gone).toMatchObject({ code: 'TLOG_SEQUENCER_REFUSED', refusal: { code: 'UNREACHABLE', message: 'ECONNREFUSED' } });
  });

  it('refuses bad requests with a specific 4xx and reads no more than the bound', async () => {
    const raw = async (init: RequestInit, path = '/v1/append') => {
      const res = await fetch(`${server.url}${path}`, init);
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    };
    expect(await raw({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' })).toMatchObject({
      status: 400,
      json: { code: 'BAD_REQUEST' },
    });
    expect(
      await raw({
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ repository: `${reg.host}/seq/unknown`, revision: 1 }),
      }),
    ).toMatchObject({
      status: 404,
      json: { code: 'NOT_SERVED' },
    });
    expect(await raw({ method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(70_000) })).toMatchObject({
      status: 413,
      json: { code: 'TOO_LARGE' },
    });
    expect(await raw({ method: 'GET' })).toMatchObject({ status: 405, json: { code: 'METHOD_NOT_ALLOWED' } });
    expect(await raw({ method: 'POST', body: '{}' }, '/v2/append')).toMatchObject({ status: 404, json: { code: 'NOT_FOUND' } });
  });

  it('a sequencer whose lease was taken over appends nothing more (503 TLOG_SEQUENCER_REFUSED)', async () => {
    const log = served.takeover;
    await pushRevision(log, 1);
    await takeLease(log.backend, { url: 'http://127.0.0.1:2', waitMs: 0, takeOver: true });
    const r = await post('/v1/append', { repository: log.ref, revision: 1 });
    expect(r).toMatchObject({ status: 503, json: { code: 'TLOG_SEQUENCER_REFUSED' } });
    expect(r.json.message).toContain('http://127.0.0.1:2 took it over');
    expect(await entryTags(log.backend)).toEqual([]);
    expect((await readLease(log.backend))?.url).toBe('http://127.0.0.1:2');
  });
});

/** Changes one byte of a binary inside a tar archive (same length): its signed hash no longer matches. */
function tamper(archive: Uint8Array): Uint8Array {
  const bytes = Buffer.from(archive);
  const at = bytes.indexOf('linux binary r');
  expect(at).toBeGreaterThan(0);
  bytes[at] ^= 0x20;
  return new Uint8Array(bytes);
}

/**
 * Publishes `layer` under revision `revision` with the config and manifest of a genuine
 * archive of that revision (pushed to a scratch repository): what someone with push rights
 * but not the issuer's key can make.
 */
async function plant(backend: ContentBackend, revision: number, layer: Uint8Array): Promise<void> {
  const scratchRef = `${reg.host}/seq/scratch-${revision}`;
  const scratch = openContentBackend(scratchRef, opts());
  const pushed = await openArchiveStore(scratchRef, opts()).push(await makeArchive(issuer, revision, { format: 'tar' }));
  const manifest = JSON.parse(Buffer.from((await scratch.getManifest(pushed.digest))!.bytes).toString());
  await backend.putBlob(manifest.config.digest, await scratch.getBlob(manifest.config.digest));
  const digest = sha256Digest(layer);
  await backend.putBlob(digest, layer);
  manifest.layers[0] = { ...manifest.layers[0], digest, size: layer.length };
  await backend.putManifest(revisionTag(revision), new Uint8Array(Buffer.from(JSON.stringify(manifest))), OCI_MANIFEST);
}
