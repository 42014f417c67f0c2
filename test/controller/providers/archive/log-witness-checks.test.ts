/**
 * The controller's log witness (controller/log-witness.ts) on its own: each decision it makes
 * about a resolved revision — accept and remember, no log, LogMissing, each LogInconsistent
 * with its evidence code — against a log in an OCI image-layout directory (`oci-layout:` refs
 * are what the sandbox uses), with its metrics, its cache and the highest logged revision.
 * log-witness.test.ts shows the same decisions end to end (a real registry, the controller,
 * status and events); this file isolates them, fast enough for the mutation run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogMemory, ResolvedArchive } from '../../../../api/provider.js';
import { RegistryLogWitness, type LogCheck } from '../../../../controller/providers/archive/log-witness.js';
import { ControllerMetrics } from '../../../../controller/metrics.js';
import { ResolveFailure } from '../../../../controller/providers/archive/resolver.js';
import { ImageLayoutBackend } from '../../../../registry/index.js';
import { OCI_MANIFEST } from '../../../../registry/media-types.js';
import {
  checkpointLog,
  encodeBase64,
  encodeEntry,
  formatCheckpoint,
  generateNoteKey,
  leafHash,
  parseSignerKey,
  rootOf,
  signNote,
  storeCheckpointNote,
  storeEntry,
  storeTiles,
  tiles,
  type LogEntry,
} from '../../../../tlog/index.js';

const { bundlePath, encodeBundle } = tiles;

const root = mkdtempSync(join(tmpdir(), 'gantry-witness-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const ORIGIN = 'registry.example/acme/kv';
// a bare key is trusted for the origin its name names (tlog/origin-keys.ts)
const key = generateNoteKey(ORIGIN);
const signer = parseSignerKey(key.signerKey);
const stranger = parseSignerKey(generateNoteKey(ORIGIN).signerKey);
const issuer = 'A' + 'B'.repeat(55);
const subject = 'V' + 'C'.repeat(55);

interface Repo {
  dir: string;
  ref: string;
  backend: ImageLayoutBackend;
  entries: LogEntry[];
}

function repo(): Repo {
  const dir = join(root, `repo-${n++}`);
  return { dir, ref: `oci-layout:${dir}`, backend: new ImageLayoutBackend(dir), entries: [] };
}

/** Publishes rev-<revision> (a stand-in manifest) and logs it; checkpoints unless told not to. */
async function publish(
  r: Repo,
  revision: number,
  opts: { checkpoint?: boolean; entry?: Partial<LogEntry>; by?: typeof signer } = {},
): Promise<LogEntry> {
  const manifest = new Uint8Array(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, annotations: { revision: String(revision), n: String(n++) } })),
  );
  const digest = await r.backend.putManifest(`rev-${revision}`, manifest, OCI_MANIFEST);
  const e: LogEntry = { revision, digest, issuer, subject, capid: 'acme:kv', version: `1.0.${revision}`, ...opts.entry };
  await storeEntry(r.backend, r.entries.length, e);
  r.entries.push(e);
  if (opts.checkpoint !== false) await checkpointLog(r.backend, { signer: opts.by ?? signer, origin: ORIGIN });
  return e;
}

function resolved(e: LogEntry, over: Partial<ResolvedArchive> = {}): ResolvedArchive {
  return {
    revision: e.revision,
    digest: e.digest,
    issuer: e.issuer,
    subject: e.subject,
    capid: e.capid,
    version: e.version,
    targets: ['x86_64-linux'],
    ...over,
  };
}

function checkOf(r: Repo, e: LogEntry, over: Partial<LogCheck> = {}): LogCheck {
  return { ref: r.ref, origin: ORIGIN, resolved: resolved(e), required: false, ...over };
}

function witness(opts: Partial<ConstructorParameters<typeof RegistryLogWitness>[0]> = {}) {
  const metrics = new ControllerMetrics();
  return { w: new RegistryLogWitness({ verifierKeys: [key.verifierKey], metrics, ...opts }), metrics };
}

async function failure(p: Promise<unknown>): Promise<{ reason: string; code?: string; message: string; transient: boolean }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ResolveFailure)) throw e;
    return { reason: e.reason, code: (e as ResolveFailure & { code?: string }).code, message: e.message, transient: e.transient };
  }
  throw new Error('expected a ResolveFailure, but the check passed');
}

/** The value of one series of a metric (0 when absent). */
async function metric(metrics: ControllerMetrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val) && !('le' in x.labels));
  return v?.value ?? 0;
}

const rootB64 = (entries: LogEntry[], size: number) =>
  encodeBase64(
    rootOf(
      entries.map((e) => leafHash(encodeEntry(e))),
      size,
    ),
  );

describe('accepting a logged revision', () => {
  it('returns the memory to keep: origin, size, root, the note and the index; counts it and the tree size', async () => {
    const r = repo();
    await publish(r, 1);
    const e2 = await publish(r, 2);
    const { w, metrics } = witness();
    const memory = await w.check(checkOf(r, e2));
    expect(memory).toEqual({
      origin: ORIGIN,
      size: 2,
      rootHash: rootB64(r.entries, 2),
      checkpoint: expect.stringContaining(`${ORIGIN}\n2\n`),
      revisionIndex: 1,
    });
    expect(await metric(metrics, 'gantry_log_checks_total', { result: 'verified' })).toBe(1);
    expect(await metric(metrics, 'gantry_log_verified_tree_size', { origin: ORIGIN })).toBe(2);
    // one check timed
    expect(await metrics.registry.getSingleMetricAsString('gantry_log_check_duration_seconds')).toMatch(
      /^gantry_log_check_duration_seconds_count 1$/m,
    );
  });

  it('a later checkpoint that extends the remembered one is accepted; the memory of another log is not compared', async () => {
    const r = repo();
    const e1 = await publish(r, 1);
    const { w } = witness({ recheckMs: 0 });
    const first = (await w.check(checkOf(r, e1)))!;
    const e2 = await publish(r, 2);
    expect((await w.check(checkOf(r, e2, { previous: first })))!.size).toBe(2);
    // a memory whose root is nonsense, but of another origin (the Provider moved repository)
    const alien: LogMemory = { origin: 'elsewhere/log', size: 9, rootHash: '%%%' };
    expect((await w.check(checkOf(r, e2, { previous: alien })))!.size).toBe(2);
  });

  it('absent claims read as empty, as the entry writes them', async () => {
    const r = repo();
    const e = await publish(r, 1, { entry: { capid: '', version: '' } });
    const { w } = witness();
    expect((await w.check(checkOf(r, e, { resolved: resolved(e, { capid: undefined, version: undefined }) })))!.revisionIndex).toBe(0);
  });
});

describe('no log', () => {
  it('without log keys: accepted as before, unless a log is required (then LogMissing, naming the flag)', async () => {
    const r = repo();
    const e = await publish(r, 1);
    const { w, metrics } = witness({ verifierKeys: [] });
    expect(await w.check(checkOf(r, e))).toBeUndefined();
    expect(await metric(metrics, 'gantry_log_checks_total', { result: 'no_log' })).toBe(1);
    expect(await w.highestLogged({ ref: r.ref, origin: ORIGIN })).toBeUndefined();
    const f = await failure(w.check(checkOf(r, e, { required: true })));
    expect(f).toEqual({
      reason: 'LogMissing',
      code: undefined,
      transient: false,
      message: `${r.ref}: a transparency log is required, but the controller trusts no log key; add --log-key (the gantry-trust ConfigMap's log-keys)`,
    });
    expect((await failure(witness({ verifierKeys: [], requireLog: true }).w.check(checkOf(r, e)))).reason).toBe('LogMissing');
    expect(await metric(metrics, 'gantry_log_checks_total', { result: 'missing' })).toBe(1);
    // a LogMissing is no inconsistency
    expect((await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'gantry_log_inconsistencies_total')?.values).toEqual([]);
    // and without keys the registry is not even read: an unreadable repository offers nothing, quietly
    writeFileSync(join(r.dir, 'index.json'), '{ broken');
    expect(await witness({ verifierKeys: [] }).w.highestLogged({ ref: r.ref, origin: ORIGIN })).toBeUndefined();
  });

  it('a repository without a log: accepted, or LogMissing naming what requires it', async () => {
    const r = repo();
    const digest = await r.backend.putManifest('rev-1', new Uint8Array(Buffer.from('{"schemaVersion":2}')), OCI_MANIFEST);
    const e: LogEntry = { revision: 1, digest, issuer, subject, capid: '', version: '' };
    const { w } = witness();
    expect(await w.check(checkOf(r, e))).toBeUndefined();
    const bySpec = await failure(w.check(checkOf(r, e, { required: true })));
    expect(bySpec).toMatchObject({ reason: 'LogMissing', transient: false });
    expect(bySpec.message).toBe(
      `${r.ref} revision 1: the repository has no transparency log, and a log is required (spec.archive.requireLog); publish with gantry par push --log-key`,
    );
    const byFlag = await failure(witness({ requireLog: true }).w.check(checkOf(r, e)));
    expect(byFlag.message).toContain("a log is required (the controller's --require-log)");
  });

  it('a log that is gone after this Provider accepted one is a rollback, not "no log"', async () => {
    const r = repo();
    const e = await publish(r, 1);
    const { w, metrics } = witness({ recheckMs: 0 });
    const memory = (await w.check(checkOf(r, e)))!;
    rmSync(r.dir, { recursive: true });
    const f = await failure(w.check(checkOf(r, e, { previous: memory })));
    expect(f).toEqual({
      reason: 'LogInconsistent',
      code: 'TLOG_ROLLBACK',
      transient: false,
      message: `TLOG_ROLLBACK: ${r.ref} revision 1: the log ${ORIGIN} is gone, but this Provider accepted its checkpoint of size 1 before; the registry deleted or rolled back the log`,
    });
    expect(await metric(metrics, 'gantry_log_checks_total', { result: 'inconsistent' })).toBe(1);
    expect(await metric(metrics, 'gantry_log_inconsistencies_total', { code: 'TLOG_ROLLBACK' })).toBe(1);
  });
});

describe('LogInconsistent, each with its evidence', () => {
  it('entries without a checkpoint, or a checkpoint without entries, is not "no log"', async () => {
    const r = repo();
    const e = await publish(r, 1, { checkpoint: false });
    const { w } = witness({ recheckMs: 0 });
    expect((await failure(w.check(checkOf(r, e)))).code).toBe('TLOG_NO_LOG');
    const s = repo();
    const lone = await publish(s, 1);
    rmSync(join(s.dir, 'index.json'));
    await storeCheckpointNote(
      s.backend,
      1,
      signNote(formatCheckpoint({ origin: ORIGIN, size: 1, root: rootOf([leafHash(encodeEntry(lone))], 1), extensions: [] }), [signer]),
    );
    expect((await failure(w.check(checkOf(s, lone)))).code).toBe('TLOG_ENTRY_MISSING');
  });

  it('works without metrics', async () => {
    const r = repo();
    const e = await publish(r, 1);
    const w = new RegistryLogWitness({ verifierKeys: [key.verifierKey] });
    expect((await w.check(checkOf(r, e)))!.size).toBe(1);
    expect((await failure(w.check(checkOf(r, { ...e, revision: 5 })))).code).toBe('TLOG_UNLOGGED_REVISION');
    expect((await failure(w.check(checkOf(r, e, { required: true, ref: `oci-layout:${join(root, 'none')}` })))).reason).toBe('LogMissing');
    writeFileSync(join(r.dir, 'index.json'), '{ broken');
    await expect(new RegistryLogWitness({ verifierKeys: [key.verifierKey] }).check(checkOf(r, e))).rejects.toThrow(
      'index.json is not valid JSON',
    );
  });

  it('against the remembered checkpoint: a smaller tree, other history, a root that is not base64', async () => {
    const r = repo();
    const e1 = await publish(r, 1);
    const e2 = await publish(r, 2);
    const { w } = witness();
    const bigger: LogMemory = { origin: ORIGIN, size: 3, rootHash: rootB64([...r.entries, e1], 3) };
    expect((await failure(w.check(checkOf(r, e2, { previous: bigger })))).code).toBe('TLOG_ROLLBACK');
    const other: LogMemory = { origin: ORIGIN, size: 1, rootHash: rootB64([e2], 1) };
    const fork = await failure(w.check(checkOf(r, e2, { previous: other })));
    expect(fork.code).toBe('TLOG_FORK');
    expect(
      fork.message.startsWith(`TLOG_FORK: ${r.ref} revision 2: ${r.backend.description}: the first 1 entries of this log hash to`),
    ).toBe(true);
    const garbled = await failure(w.check(checkOf(r, e2, { previous: { origin: ORIGIN, size: 1, rootHash: 'not base64!' } })));
    expect(garbled).toMatchObject({ reason: 'LogInconsistent', code: 'TLOG_CHECKPOINT_MALFORMED' });
    expect(garbled.message).toContain('status.log.rootHash is not base64; clear status.log only if you trust the log as it is now');
  });

  it('a revision published outside the log, or logged but not yet checkpointed', async () => {
    const r = repo();
    await publish(r, 1);
    const { w } = witness({ recheckMs: 0 });
    const outside: LogEntry = { ...r.entries[0], revision: 7 };
    const f = await failure(w.check(checkOf(r, outside)));
    expect(f.code).toBe('TLOG_UNLOGGED_REVISION');
    expect(f.message).toBe(
      `TLOG_UNLOGGED_REVISION: ${r.ref} revision 7 (${outside.digest}) has no entry in the log ${ORIGIN} (checkpoint of size 1); it was published outside the log`,
    );
    const pending = await publish(r, 2, { checkpoint: false });
    const p = await failure(w.check(checkOf(r, pending)));
    expect(p.code).toBe('TLOG_UNLOGGED_REVISION');
    expect(p.message).toBe(
      `TLOG_UNLOGGED_REVISION: ${r.ref} revision 2 is log entry 1, not yet included in the latest signed checkpoint (size 1); an interrupted push — push the archive again to checkpoint it`,
    );
  });

  it('a re-pointed tag, and signed claims that disagree with the entry, field by field', async () => {
    const r = repo();
    const e1 = await publish(r, 1);
    const e2 = await publish(r, 2);
    const { w } = witness();
    const moved = await failure(w.check(checkOf(r, e1, { resolved: resolved(e1, { digest: e2.digest }) })));
    expect(moved.code).toBe('TLOG_TAG_MISMATCH');
    expect(moved.message).toBe(
      `TLOG_TAG_MISMATCH: ${r.ref} revision 1: the tag rev-1 names ${e2.digest}, but log entry 0 (checkpoint of size 2) records ${e1.digest}; the tag was re-pointed`,
    );
    for (const [field, value] of [
      ['issuer', 'A' + 'Q'.repeat(55)],
      ['subject', 'V' + 'Q'.repeat(55)],
      ['capid', 'acme:other'],
      ['version', '9.9.9'],
    ] as const) {
      const f = await failure(w.check(checkOf(r, e2, { resolved: resolved(e2, { [field]: value }) })));
      expect(f.code, field).toBe('TLOG_TAG_MISMATCH');
      expect(f.message, field).toBe(
        `TLOG_TAG_MISMATCH: ${r.ref} revision 2: the archive's signed ${field} ${JSON.stringify(value)} (log: ${JSON.stringify(e2[field])}) disagree with log entry 1`,
      );
    }
    const two = await failure(w.check(checkOf(r, e2, { resolved: resolved(e2, { capid: undefined, version: '0' }) })));
    expect(two.message).toContain(`the archive's signed capid "" (log: "acme:kv"), version "0" (log: "1.0.2") disagree`);
  });

  it("a checkpoint by an untrusted key, or one whose entries were rewritten: the log library's code, prefixed with where", async () => {
    const r = repo();
    const e = await publish(r, 1, { by: stranger });
    const { w, metrics } = witness({ recheckMs: 0 });
    const f = await failure(w.check(checkOf(r, e)));
    expect(f.code).toBe('TLOG_NOTE_UNVERIFIED');
    expect(f.message.startsWith(`TLOG_NOTE_UNVERIFIED: ${r.ref} revision 1: no signature by a trusted key`)).toBe(true);
    expect(await metric(metrics, 'gantry_log_inconsistencies_total', { code: 'TLOG_NOTE_UNVERIFIED' })).toBe(1);

    // a tiled log: the bundle is the entry that counts; rewritten, it fails to authenticate
    const s = repo();
    const e1 = await publish(s, 1);
    const forged = encodeBundle([encodeEntry({ ...e1, version: 'rewritten' })]);
    await storeTiles(s.backend, [{ kind: 'entries', path: bundlePath({ index: 0, width: 1 }), id: { index: 0, width: 1 }, bytes: forged }]);
    expect((await failure(w.check(checkOf(s, e1)))).code).toBe('TLOG_TILE_MISMATCH');
    // its entry tags are only the appends' claims: rewriting one below the checkpoint changes nothing read
    const t = repo();
    const t1 = await publish(t, 1);
    await storeEntry(t.backend, 0, { ...t1, version: 'rewritten' });
    expect((await w.check(checkOf(t, t1)))!.size).toBe(1);
    // a log written before tiles is read the old way: a rewritten entry is a root that no longer matches
    const u = repo();
    const u1 = await publish(u, 1, { checkpoint: false });
    await storeCheckpointNote(
      u.backend,
      1,
      signNote(formatCheckpoint({ origin: ORIGIN, size: 1, root: rootOf([leafHash(encodeEntry(u1))], 1), extensions: [] }), [signer]),
    );
    expect((await w.check(checkOf(u, u1)))!.size).toBe(1);
    await storeEntry(u.backend, 0, { ...u1, version: 'rewritten' });
    expect((await failure(w.check(checkOf(u, u1)))).code).toBe('TLOG_ROOT_MISMATCH');
  });

  it('attack: a checkpoint by a key trusted only for another origin is LogKeyNotForOrigin, with its code, not accepted', async () => {
    const r = repo();
    const e = await publish(r, 1);
    // the very key that signed, trusted by the controller, but for registry.example/other/ only
    const { w, metrics } = witness({ verifierKeys: [`registry.example/other/=${key.verifierKey}`, `${ORIGIN}x=${stranger.verifierKey}`] });
    const f = await failure(w.check(checkOf(r, e)));
    expect(f.reason).toBe('LogKeyNotForOrigin');
    expect(f.code).toBe('TLOG_KEY_NOT_FOR_ORIGIN');
    expect(f.transient).toBe(false);
    expect(f.message).toMatch(
      new RegExp(
        `^TLOG_KEY_NOT_FOR_ORIGIN: ${r.ref} revision 1: the checkpoint for "${ORIGIN}" is signed only by trusted keys bound to other origins: ${ORIGIN}\\+[0-9a-f]{8} \\(registry\\.example/other/\\)`,
      ),
    );
    expect(await metric(metrics, 'gantry_log_checks_total', { result: 'error' })).toBe(1);
    // nor does it offer a highest logged revision
    expect(await w.highestLogged({ ref: r.ref, origin: ORIGIN })).toBeUndefined();
    // the same key bound to the origin's prefix is accepted
    const ok = witness({ verifierKeys: [`registry.example/acme/=${key.verifierKey}`] }).w;
    expect(await ok.check(checkOf(r, e))).toMatchObject({ origin: ORIGIN, size: 1 });
  });

  it('a log that cannot be read is an error, counted as one', async () => {
    const r = repo();
    const e = await publish(r, 1);
    writeFileSync(join(r.dir, 'index.json'), '{ broken');
    const { w, metrics } = witness();
    await expect(w.check(checkOf(r, e))).rejects.toThrow('index.json is not valid JSON');
    expect(await metric(metrics, 'gantry_log_checks_total', { result: 'error' })).toBe(1);
  });
});

describe('reading the log once per recheck interval', () => {
  it('by default a log is reused for a while (15 s), not read on every check', async () => {
    const r = repo();
    const e1 = await publish(r, 1);
    const { w } = witness();
    expect((await w.check(checkOf(r, e1)))!.size).toBe(1);
    const e2 = await publish(r, 2);
    expect((await failure(w.check(checkOf(r, e2)))).code).toBe('TLOG_UNLOGGED_REVISION');
  });

  it('a log opened within recheckMs is reused; after it, the registry is read again', async () => {
    const r = repo();
    await publish(r, 1);
    const cached = witness({ recheckMs: 60_000 }).w;
    const uncached = witness({ recheckMs: 0 }).w;
    expect((await cached.check(checkOf(r, r.entries[0])))!.size).toBe(1);
    expect((await uncached.check(checkOf(r, r.entries[0])))!.size).toBe(1);
    const e2 = await publish(r, 2);
    expect((await failure(cached.check(checkOf(r, e2)))).code).toBe('TLOG_UNLOGGED_REVISION');
    expect((await uncached.check(checkOf(r, e2)))!.size).toBe(2);
    // the cache is per repository and origin
    expect((await failure(cached.check(checkOf(r, e2, { origin: `${ORIGIN}-other` })))).code).toBe('TLOG_ORIGIN_MISMATCH');
  });

  it('a failed read is not cached', async () => {
    const r = repo();
    const e = await publish(r, 1);
    const good = readIndex(r);
    writeFileSync(join(r.dir, 'index.json'), '{ broken');
    const { w } = witness({ recheckMs: 60_000 });
    await expect(w.check(checkOf(r, e))).rejects.toThrow('index.json is not valid JSON');
    writeFileSync(join(r.dir, 'index.json'), good);
    expect((await w.check(checkOf(r, e)))!.size).toBe(1);
  });
});

describe('the highest revision the log offers', () => {
  it('is the highest revision within the latest verified checkpoint, not a newer uncheckpointed one', async () => {
    const r = repo();
    const { w } = witness({ recheckMs: 0 });
    expect(await w.highestLogged({ ref: r.ref, origin: ORIGIN })).toBeUndefined();
    await publish(r, 3);
    await publish(r, 1);
    expect(await w.highestLogged({ ref: r.ref, origin: ORIGIN })).toBe(3);
    await publish(r, 5);
    await publish(r, 9, { checkpoint: false });
    expect(await w.highestLogged({ ref: r.ref, origin: ORIGIN })).toBe(5);
  });

  it('is undefined when the latest checkpoint does not verify, or covers no entry', async () => {
    const r = repo();
    await publish(r, 4, { by: stranger });
    const { w } = witness({ recheckMs: 0 });
    expect(await w.highestLogged({ ref: r.ref, origin: ORIGIN })).toBeUndefined();
    const empty = repo();
    await storeEntry(empty.backend, 0, { ...r.entries[0] });
    await storeCheckpointNote(
      empty.backend,
      0,
      signNote(formatCheckpoint({ origin: ORIGIN, size: 0, root: rootOf([], 0), extensions: [] }), [signer]),
    );
    expect(await w.highestLogged({ ref: empty.ref, origin: ORIGIN })).toBeUndefined();
    // revision 0 is a revision: a checkpoint covering only it offers 0
    const zero = repo();
    await publish(zero, 0);
    expect(await w.highestLogged({ ref: zero.ref, origin: ORIGIN })).toBe(0);
  });
});

function readIndex(r: Repo): string {
  return readFileSync(join(r.dir, 'index.json'), 'utf8');
}
