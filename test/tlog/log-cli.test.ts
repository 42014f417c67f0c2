/**
 * `gantry par push --log-key` and `gantry log …` as a user runs them: the built CLI against a
 * real registry (Debian docker-registry, no referrers API). Three pushes give a log whose
 * inclusion and consistency proofs verify (checked here with the library, independently of the
 * CLI); each attack — a re-pointed tag, a history rewritten to a fork, a rollback, a checkpoint
 * with a bad signature — is caught by `gantry log verify` with its own code and only that code;
 * two concurrent pushes keep both entries; `verify-note` exits 0/1/2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';
import { OCI_MANIFEST, openContentBackend } from '../../registry/index.js';
import {
  decodeBase64,
  encodeEntry,
  leafHash,
  openLog,
  parseCheckpoint,
  parseSignerKey,
  parseVerifierKey,
  openNote,
  signNote,
  storeCheckpointNote,
  verifyConsistency,
  verifyInclusion,
} from '../../tlog/index.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner, type Signer } from '../registry/fixtures.js';

const gantry = (args: string[]) => gantryIn(packageRoot(), work, args, 60_000);

let reg: RegistryServer;
let work: string;
let keyFile: string;
let vkey: string;

beforeAll(async () => {
  reg = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'gantry-tlog-cli-'));
  keyFile = join(work, 'log.key');
  // named after the registry: a bare key is trusted for the origins under its name (tlog/origin-keys.ts)
  const made = await gantry(['log', 'keygen', reg.host, '-o', keyFile]);
  expect(made.code).toBe(0);
  vkey = made.stdout.trim();
});
afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const LOG = ['--log-delta-ms', '1000']; // the default: a shared, loaded test machine needs it

async function archiveFile(s: Signer, revision: number, tag = ''): Promise<string> {
  const f = join(work, `r${revision}${tag}-${Math.random().toString(36).slice(2)}.par.gz`);
  writeFileSync(f, await makeArchive(s, revision));
  return f;
}

async function push(
  file: string,
  ref: string,
  extra: string[] = [],
): Promise<{ revision: number; digest: string; log?: { index: number; treeSize: number; checkpoint: string } }> {
  const r = await gantry(['par', 'push', file, ref, '--plain-http', '--json', '--log-key', keyFile, ...LOG, ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

async function verify(ref: string, extra: string[] = []): Promise<{ code: number; codes: string[]; stdout: string; stderr: string }> {
  const r = await gantry(['log', 'verify', ref, '--plain-http', '--key', vkey, '--json', ...extra]);
  const parsed = JSON.parse(r.stdout);
  return {
    code: r.code,
    codes: [...new Set(parsed.problems.map((p: { code: string }) => p.code))] as string[],
    stdout: r.stdout,
    stderr: r.stderr,
  };
}

async function saveCheckpoint(ref: string, name: string): Promise<string> {
  const r = await gantry(['log', 'checkpoint', ref, '--plain-http', '--key', vkey]);
  expect(r.code).toBe(0);
  const f = join(work, name);
  writeFileSync(f, r.stdout);
  return f;
}

/** The registry operator deletes manifests (and so their tags): what a rollback or rewrite needs. */
async function deleteTags(repo: string, tags: string[]): Promise<void> {
  for (const tag of tags) {
    const head = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: OCI_MANIFEST } });
    expect(head.status, tag).toBe(200);
    const digest = head.headers.get('docker-content-digest')!;
    const del = await fetch(`${reg.url}/v2/${repo}/manifests/${digest}`, { method: 'DELETE' });
    expect(del.status, `delete ${tag}`).toBe(202);
  }
}

describe('gantry log against a real registry', () => {
  it('three pushes: the checkpoint prints as stored and verifies; inclusion and consistency proofs verify', async () => {
    const repo = 'logs/three';
    const ref = `${reg.host}/${repo}`;
    const s = newSigner();
    const pushed = [];
    for (const r of [1, 2, 3]) {
      pushed.push(await push(await archiveFile(s, r), ref));
      if (r === 1) await saveCheckpoint(ref, 'three-1.note');
    }
    expect(pushed.map((p) => [p.log?.index, p.log?.treeSize])).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);

    // checkpoint: the note exactly as stored, origin line, size, root; verify-note accepts it
    const cp = await gantry(['log', 'checkpoint', ref, '--plain-http']);
    expect(cp.code).toBe(0);
    expect(cp.stdout).toBe(pushed[2].log!.checkpoint);
    const body = openNote(cp.stdout, [parseVerifierKey(vkey)]).text;
    expect(body.split('\n').slice(0, 2)).toEqual([ref, '3']);
    const checkpoint = parseCheckpoint(body);
    writeFileSync(join(work, 'three.note'), cp.stdout);
    expect((await gantry(['log', 'verify-note', '--key', vkey, join(work, 'three.note')])).code).toBe(0);

    // inclusion of revision 2, checked here from the entry we can rebuild ourselves
    const inc = await gantry(['log', 'inclusion', ref, '--plain-http', '--key', vkey, '--revision', '2', '--json']);
    expect(inc.code).toBe(0);
    const p = JSON.parse(inc.stdout);
    expect(p).toMatchObject({ revision: 2, index: 1, treeSize: 3, digest: pushed[1].digest, checkpointVerified: true });
    const entry = {
      revision: 2,
      digest: pushed[1].digest,
      issuer: s.issuer,
      subject: (await openLog(openContentBackend(ref, { plainHttpRegistries: [reg.host] }))).entries[1].subject,
      capid: 'examples:payments',
      version: '0.2.0',
    };
    const lh = leafHash(encodeEntry(entry));
    expect(p.leafHash).toBe(Buffer.from(lh).toString('base64'));
    verifyInclusion(
      lh,
      p.index,
      p.treeSize,
      p.proof.map((h: string) => decodeBase64(h)!),
      checkpoint.root,
    );

    // consistency from the checkpoint saved after the first push
    const first = parseCheckpoint(openNote(readFileSync(join(work, 'three-1.note'), 'utf8'), [parseVerifierKey(vkey)]).text);
    const cons = await gantry(['log', 'consistency', ref, '--plain-http', '--key', vkey, '--from', '1', '--json']);
    expect(cons.code).toBe(0);
    const c = JSON.parse(cons.stdout);
    expect(c).toMatchObject({
      from: 1,
      to: 3,
      fromRoot: Buffer.from(first.root).toString('base64'),
      toRoot: Buffer.from(checkpoint.root).toString('base64'),
    });
    verifyConsistency(
      1,
      3,
      c.proof.map((h: string) => decodeBase64(h)!),
      first.root,
      checkpoint.root,
    );

    const ok = await verify(ref, ['--trusted', join(work, 'three-1.note')]);
    expect(ok.codes).toEqual([]);
    expect(ok.code).toBe(0);
    const human = await gantry(['log', 'verify', ref, '--plain-http', '--key', vkey]);
    expect(human.stdout).toMatch(/^ok: .*3 entries, checkpoint of size 3/);
  }, 120_000);

  it('a re-pointed revision tag is TLOG_TAG_MISMATCH', async () => {
    const repo = 'logs/repointed';
    const ref = `${reg.host}/${repo}`;
    const s = newSigner();
    await push(await archiveFile(s, 1), ref);
    const two = await push(await archiveFile(s, 2), ref);
    expect((await verify(ref)).code).toBe(0);
    // the registry serves revision 2's archive under rev-1 (both signed, both valid)
    const backend = openContentBackend(ref, { plainHttpRegistries: [reg.host] });
    const m = (await backend.getManifest(two.digest))!;
    await backend.putManifest('rev-1', m.bytes, OCI_MANIFEST);
    const bad = await verify(ref);
    expect(bad.code).toBe(1);
    expect(bad.codes).toEqual(['TLOG_TAG_MISMATCH']);
    expect(bad.stdout).toMatch(/rev-1 names sha256:[0-9a-f]+, the log records/);
  }, 120_000);

  it('attack: the log of a repository under one origin, signed by a key trusted for another, is TLOG_KEY_NOT_FOR_ORIGIN', async () => {
    const ref = `${reg.host}/team-b/payments`;
    await push(await archiveFile(newSigner(), 1), ref); // signed by the registry-wide key (named after the host)
    expect((await verify(ref)).code).toBe(0);
    // the same key, trusted for team-a only: it may not vouch for team-b's log
    const r = await gantry(['log', 'verify', ref, '--plain-http', '--key', `${reg.host}/team-a/=${vkey}`, '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).problems.map((p: { code: string }) => p.code)).toContain('TLOG_KEY_NOT_FOR_ORIGIN');
    const cp = await gantry(['log', 'checkpoint', ref, '--plain-http', '--key', `${reg.host}/team-a/=${vkey}`]);
    expect(cp.code).toBe(1);
    expect(cp.stderr).toMatch(
      /TLOG_KEY_NOT_FOR_ORIGIN: the checkpoint for ".*\/team-b\/payments" is signed only by trusted keys bound to other origins/,
    );
    // bound to team-b, it is accepted
    expect((await gantry(['log', 'checkpoint', ref, '--plain-http', '--key', `${reg.host}/team-b/=${vkey}`])).code).toBe(0);
  }, 120_000);

  it('a history rewritten to a fork (same key, other archives) verifies on its own but is TLOG_FORK against a trusted checkpoint', async () => {
    const repo = 'logs/fork';
    const ref = `${reg.host}/${repo}`;
    const s = newSigner();
    await push(await archiveFile(s, 1), ref);
    await push(await archiveFile(s, 2), ref);
    const trusted = await saveCheckpoint(ref, 'fork-2.note');
    // everything is deleted and re-published with other archives under the same revisions
    await deleteTags(repo, ['rev-1', 'rev-2', 'tlog.entry.0', 'tlog.entry.1', 'tlog.checkpoint.1', 'tlog.checkpoint.2']);
    await push(await archiveFile(s, 1, 'b'), ref);
    await push(await archiveFile(s, 2, 'b'), ref);
    expect((await verify(ref)).code).toBe(0);
    const bad = await verify(ref, ['--trusted', trusted]);
    expect(bad.code).toBe(1);
    expect(bad.codes).toEqual(['TLOG_FORK']);
  }, 120_000);

  it('a rollback to a smaller, older log is TLOG_ROLLBACK against a trusted checkpoint', async () => {
    const repo = 'logs/rollback';
    const ref = `${reg.host}/${repo}`;
    const s = newSigner();
    for (const r of [1, 2, 3]) await push(await archiveFile(s, r), ref);
    const trusted = await saveCheckpoint(ref, 'rollback-3.note');
    await deleteTags(repo, ['rev-3', 'tlog.entry.2', 'tlog.checkpoint.3']);
    expect((await verify(ref)).code).toBe(0); // a consistent older state, on its own
    const bad = await verify(ref, ['--trusted', trusted]);
    expect(bad.code).toBe(1);
    expect(bad.codes).toEqual(['TLOG_ROLLBACK']);
  }, 120_000);

  it('a checkpoint with a bad signature is TLOG_NOTE_BAD_SIGNATURE; one by another key is TLOG_NOTE_UNVERIFIED', async () => {
    const repo = 'logs/badsig';
    const ref = `${reg.host}/${repo}`;
    const s = newSigner();
    await push(await archiveFile(s, 1), ref);
    await push(await archiveFile(s, 2), ref);
    const backend = openContentBackend(ref, { plainHttpRegistries: [reg.host] });
    const log = await openLog(backend);
    const note = (await log.checkpointNote(2))!.note;
    // flip one bit of the Ed25519 signature, keeping the key name and key hash
    const lines = note.split('\n');
    const sigLine = lines.findIndex((l) => l.startsWith('\u2014 '));
    const [dash, name, b64] = lines[sigLine].split(' ');
    const raw = Buffer.from(b64, 'base64');
    raw[10] ^= 1;
    lines[sigLine] = [dash, name, raw.toString('base64')].join(' ');
    await storeCheckpointNote(backend, 2, lines.join('\n'));
    const bad = await verify(ref);
    expect(bad.code).toBe(1);
    expect(bad.codes).toEqual(['TLOG_NOTE_BAD_SIGNATURE']);

    // the same checkpoint text signed by a key of the same name that nobody trusts
    const impostor = (await gantry(['log', 'keygen', 'gantry-test-log', '-o', join(work, 'impostor.key')])).code;
    expect(impostor).toBe(0);
    const text = note.slice(0, note.lastIndexOf('\n\n') + 1);
    await storeCheckpointNote(backend, 2, signNote(text, [parseSignerKey(readFileSync(join(work, 'impostor.key'), 'utf8').trim())]));
    const unverified = await verify(ref);
    expect(unverified.codes).toEqual(['TLOG_NOTE_UNVERIFIED']);
  }, 120_000);

  it('two concurrent pushes keep both entries', async () => {
    const repo = 'logs/concurrent';
    const ref = `${reg.host}/${repo}`;
    const s = newSigner();
    await push(await archiveFile(s, 1), ref);
    // revisions 2 and 3 are published first without the log (the archive store's own rule
    // refuses a lower revision after a higher one), then both pushes log them at once
    const files = [await archiveFile(s, 2), await archiveFile(s, 3)];
    for (const f of files) expect((await gantry(['par', 'push', f, ref, '--plain-http'])).code).toBe(0);
    expect((await verify(ref)).codes).toEqual(['TLOG_UNLOGGED_REVISION']);
    const both = await Promise.all(files.map((f) => push(f, ref)));
    expect(both.map((b) => b.log!.index).sort()).toEqual([1, 2]);
    const log = await openLog(openContentBackend(ref, { plainHttpRegistries: [reg.host] }));
    expect(log.entries.map((e) => e.revision).sort()).toEqual([1, 2, 3]);
    const ok = await verify(ref);
    expect(ok.codes).toEqual([]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, size: 3, checkpointSize: 3 });
  }, 120_000);

  it('verify-note exits 0 for a valid note, 1 for an invalid one, 2 for a bad key or missing file', async () => {
    const { signerKey, verifierKey } = await import('../../tlog/index.js').then((t) => t.generateNoteKey('notes.example'));
    const f = join(work, 'hello.note');
    writeFileSync(f, signNote('hello\n', [parseSignerKey(signerKey)]));
    const ok = await gantry(['log', 'verify-note', '--key', verifierKey, f, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ valid: true, text: 'hello\n' });
    writeFileSync(join(work, 'altered.note'), readFileSync(f, 'utf8').replace('hello', 'hullo'));
    const bad = await gantry(['log', 'verify-note', '--key', verifierKey, join(work, 'altered.note')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/TLOG_NOTE_BAD_SIGNATURE/);
    expect((await gantry(['log', 'verify-note', '--key', vkey, f])).code).toBe(1);
    expect((await gantry(['log', 'verify-note', '--key', 'not-a-key', f])).code).toBe(2);
    expect((await gantry(['log', 'verify-note', '--key', verifierKey, join(work, 'missing.note')])).code).toBe(2);
    expect((await gantry(['log', 'verify-note', f])).code).toBe(2);
  }, 60_000);
});
