/**
 * `gantry log serve` and `gantry par push --log-sequencer` as a user runs them: the built CLI
 * against a real registry. Pushes through the sequencer print their entry and checkpoint and
 * give a log `gantry log verify` accepts; `--log-key` on the sequenced repository is refused
 * with TLOG_SEQUENCED naming the sequencer, before anything is pushed; an unreachable
 * sequencer is TLOG_SEQUENCER_REFUSED saying the archive is pushed and how to finish; on
 * SIGTERM the sequencer releases its lease and `--log-key` pushes work again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openArchiveStore, openContentBackend } from '../../registry/index.js';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { readLease } from '../../tlog/index.js';
import { makeArchive, newSigner } from '../registry/fixtures.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';

const gantry = (args: string[]) => gantryIn(packageRoot(), work, args, 60_000);
const issuer = newSigner();

let reg: RegistryServer;
let work: string;
let keyFile: string;
let vkey: string;
let serving: ChildProcess | undefined;

beforeAll(async () => {
  reg = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'gantry-seq-cli-'));
  keyFile = join(work, 'log.key');
  const made = await gantry(['log', 'keygen', reg.host, '-o', keyFile]);
  expect(made.code).toBe(0);
  vkey = made.stdout.trim();
});
afterAll(async () => {
  serving?.kill('SIGKILL');
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function archiveFile(revision: number): Promise<string> {
  const f = join(work, `r${revision}.par.gz`);
  writeFileSync(f, await makeArchive(issuer, revision));
  return f;
}

/** Starts `gantry log serve` and resolves with its URL once it says it serves. */
function serve(ref: string): Promise<{ url: string; proc: ChildProcess; output: () => string }> {
  const proc = spawn(
    process.execPath,
    [gantryBin(), 'log', 'serve', ref, '--log-key', keyFile, '--plain-http', '--trusted-issuer', issuer.issuer, '--listen', '127.0.0.1:0'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, GANTRY_LOG_LEVEL: 'error', HOME: work, XDG_CONFIG_HOME: join(work, 'config') },
    },
  );
  serving = proc;
  let out = '';
  proc.stderr.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /serving (http:\/\/\S+) for/.exec(out);
      if (m) resolve({ url: m[1], proc, output: () => out });
    });
    proc.on('exit', (code) => reject(new Error(`gantry log serve exited ${code}: ${out}`)));
  });
}

describe('gantry log serve and par push --log-sequencer', () => {
  it('refuses to start without what it needs, before any lease is taken', async () => {
    const ref = `${reg.host}/seqcli/usage`;
    const base = ['log', 'serve', ref, '--log-key', keyFile, '--plain-http'];
    const cases: Array<[string[], string]> = [
      [base, '--trusted-issuer'],
      [[...base, '--trusted-issuer', issuer.issuer, '--listen', 'nope'], '--listen must be HOST:PORT'],
      [[...base, '--trusted-issuer', issuer.issuer, '--url', 'ftp://x'], '--url must be an http(s) URL'],
      [[...base, '--trusted-issuer', issuer.issuer, '--lease-wait-ms', '-1'], '--lease-wait-ms'],
      [['log', 'serve', `oci-layout:${work}/layout`, '--log-key', keyFile, '--trusted-issuer', issuer.issuer], 'not oci-layout'],
      [['log', 'serve', ref, '--log-key', join(work, 'missing.key'), '--trusted-issuer', issuer.issuer], 'cannot read the log key'],
    ];
    for (const [args, says] of cases) {
      const r = await gantry(args);
      expect({ code: r.code, says: r.stderr.includes(says) }, `${args.join(' ')}: ${r.stderr}`).toEqual({ code: 2, says: true });
    }
    expect(await readLease(openContentBackend(ref, { plainHttpRegistries: [reg.host] }))).toBeUndefined();
  });

  it('pushes through the sequencer, refuses --log-key while it runs, and releases the lease on SIGTERM', async () => {
    const ref = `${reg.host}/seqcli/provider`;
    const seq = await serve(ref);
    expect((await readLease(openContentBackend(ref, { plainHttpRegistries: [reg.host] })))?.url).toBe(seq.url);

    for (const r of [1, 2]) {
      const p = await gantry(['par', 'push', await archiveFile(r), ref, '--plain-http', '--log-sequencer', seq.url]);
      expect(p.stderr).toBe('');
      expect(p.code).toBe(0);
      expect(p.stdout).toContain(`logged as entry ${r - 1}; checkpoint of size ${r}`);
    }
    const json = await gantry(['par', 'push', await archiveFile(3), ref, '--plain-http', '--log-sequencer', seq.url, '--json']);
    expect(JSON.parse(json.stdout).log).toMatchObject({
      index: 2,
      appended: true,
      treeSize: 3,
      checkpoint: expect.stringContaining(`${ref}\n3\n`),
    });

    const verified = await gantry(['log', 'verify', ref, '--plain-http', '--key', vkey, '--trusted-issuer', issuer.issuer]);
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toContain(`ok: ${ref}: 3 entries, checkpoint of size 3`);

    // appending on one's own is refused before the archive is pushed
    const fischer = await gantry(['par', 'push', await archiveFile(4), ref, '--plain-http', '--log-key', keyFile]);
    expect(fischer.code).toBe(1);
    expect(fischer.stderr).toContain('TLOG_SEQUENCED');
    expect(fischer.stderr).toContain(`--log-sequencer ${seq.url}`);
    const store = openArchiveStore(ref, { plainHttpRegistries: [reg.host] });
    expect((await store.revisions()).map((r) => r.revision)).toEqual([1, 2, 3]);

    // the usage errors
    const both = await gantry(['par', 'push', await archiveFile(4), ref, '--plain-http', '--log-key', keyFile, '--log-sequencer', seq.url]);
    expect({ code: both.code, says: both.stderr.includes('exclude each other') }).toEqual({ code: 2, says: true });
    const notUrl = await gantry(['par', 'push', await archiveFile(4), ref, '--plain-http', '--log-sequencer', 'localhost:1']);
    expect({ code: notUrl.code, says: notUrl.stderr.includes('must be an http(s) URL') }).toEqual({ code: 2, says: true });

    // a second sequencer for the same repository is refused while the first holds it
    const second = await gantry([
      'log',
      'serve',
      ref,
      '--log-key',
      keyFile,
      '--plain-http',
      '--trusted-issuer',
      issuer.issuer,
      '--listen',
      '127.0.0.1:0',
      '--lease-wait-ms',
      '0',
    ]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`TLOG_SEQUENCED: ${ref}: the sequencer at ${seq.url} holds the log`);

    seq.proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => seq.proc.once('exit', resolve));
    expect(code).toBe(0);
    expect(seq.output()).toContain(`released ${ref}`);
    expect((await readLease(openContentBackend(ref, { plainHttpRegistries: [reg.host] })))?.released).toEqual(expect.any(String));

    // the sequencer is gone: asking it fails with the reason, and the archive is pushed
    const rev4 = await archiveFile(4);
    const gone = await gantry(['par', 'push', rev4, ref, '--plain-http', '--log-sequencer', seq.url]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('TLOG_SEQUENCER_REFUSED');
    expect(gone.stderr).toContain('could not be reached (ECONNREFUSED)');
    expect(gone.stderr).toContain('Revision 4 is pushed');
    expect((await store.revisions()).map((r) => r.revision)).toEqual([1, 2, 3, 4]);

    // the lease released, a push signing on its own logs again: the same archive pushed again finishes the job
    const again = await gantry(['par', 'push', rev4, ref, '--plain-http', '--log-key', keyFile]);
    expect(again.stderr).toBe('');
    expect(again.stdout).toContain('logged as entry 3; checkpoint of size 4');
  });
});
