/**
 * `gantry log monitor` against real registries (an origin and a mirror, docker-registry on
 * loopback) through the built CLI: agreeing logs pass and the state file remembers them; a
 * fork shown to one registry, a rollback, a re-pointed tag and a checkpoint with a bad
 * signature each exit 1 naming the evidence code, leaving the state file as it was; with
 * --interval it follows the logs until the first disagreement.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gantryBin } from '../../runtime/paths.js';
import { mirrorRepository, openArchiveStore } from '../../registry/index.js';
import { generateNoteKey } from '../../tlog/index.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner } from '../registry/fixtures.js';
import { gantryIn } from '../support/gantry-cli.js';
import { clientOf, entryOf, forgeCheckpoint, forkAt, logRevision, repointTag, rollbackTo, signerOf } from './log-attacks.js';

let origin: RegistryServer;
let mirror: RegistryServer;
let work: string;
const signer = newSigner();
const key = generateNoteKey('gantry-monitor-test');
const logSigner = signerOf(key.signerKey);
const gantry = (args: string[]) => gantryIn(work, work, args);

/** Publishes revisions 1..n with a log at the origin, and mirrors the repository. */
async function published(repo: string, n: number): Promise<void> {
  for (let r = 1; r <= n; r++) {
    await openArchiveStore(`${origin.host}/${repo}`, { plainHttpRegistries: [origin.host] }).push(await makeArchive(signer, r));
    await logRevision(origin.host, repo, r, logSigner);
  }
  await mirrorRepository(clientOf(origin.host, repo), clientOf(mirror.host, repo));
}

const monitor = (repo: string, state: string, extra: string[] = []) =>
  gantry([
    'log',
    'monitor',
    `${origin.host}/${repo}`,
    `${mirror.host}/${repo}`,
    '--origin',
    `${origin.host}/${repo}`,
    '--state',
    join(work, state),
    '--key',
    `${origin.host}=${key.verifierKey}`,
    '--plain-http',
    ...extra,
  ]);

beforeAll(async () => {
  origin = await startRegistry();
  mirror = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'gantry-monitor-'));
});
afterAll(async () => {
  await origin?.stop();
  await mirror?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('gantry log monitor', () => {
  it('agreeing logs pass, a lagging mirror is fine, and the state file remembers the largest checkpoint', async () => {
    await published('mon/ok', 2);
    const first = await monitor('mon/ok', 'ok.json');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/ok .*mon\/ok: .* size 2 root /);
    await openArchiveStore(`${origin.host}/mon/ok`, { plainHttpRegistries: [origin.host] }).push(await makeArchive(signer, 3));
    await logRevision(origin.host, 'mon/ok', 3, logSigner);
    const lagging = await monitor('mon/ok', 'ok.json', ['--json']);
    expect(lagging.code, lagging.stderr).toBe(0);
    const round = JSON.parse(lagging.stdout.trim());
    expect(round.logs.map((l: any) => l.size).sort()).toEqual([2, 3]);
    const state = JSON.parse(readFileSync(join(work, 'ok.json'), 'utf8'));
    expect(state.logs[`${origin.host}/mon/ok`].size).toBe(3);
    expect(state.sources[`${mirror.host}/mon/ok`].size).toBe(2);
  });

  it('a fork shown to the mirror only (the key holder signs two histories) is TLOG_FORK between the registries', async () => {
    await published('mon/fork', 2);
    expect((await monitor('mon/fork', 'fork.json')).code).toBe(0);
    const before = readFileSync(join(work, 'fork.json'), 'utf8');
    // at the mirror, revision 2 becomes other validly signed bytes, logged and signed anew
    const other = await openArchiveStore(`${mirror.host}/mon/forkshadow`, { plainHttpRegistries: [mirror.host] }).push(
      await makeArchive(signer, 2),
    );
    await repointTag(mirror.host, 'mon/fork', 'rev-2', other.digest, 'mon/forkshadow');
    await forkAt(mirror.host, 'mon/fork', 1, await entryOf(mirror.host, 'mon/forkshadow', 2), logSigner, `${origin.host}/mon/fork`);
    const r = await monitor('mon/fork', 'fork.json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DISAGREEMENT TLOG_FORK .*mon\/fork/);
    expect(readFileSync(join(work, 'fork.json'), 'utf8')).toBe(before);
  });

  it('a rollback at the origin is TLOG_ROLLBACK against the state file', async () => {
    await published('mon/rollback', 3);
    expect((await monitor('mon/rollback', 'rollback.json')).code).toBe(0);
    await rollbackTo(origin.host, 'mon/rollback', 2);
    await rollbackTo(mirror.host, 'mon/rollback', 2);
    const r = await monitor('mon/rollback', 'rollback.json');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/DISAGREEMENT TLOG_ROLLBACK/);
  });

  it('a re-pointed tag is TLOG_TAG_MISMATCH; a checkpoint with a bad signature is TLOG_NOTE_BAD_SIGNATURE', async () => {
    await published('mon/tag', 2);
    expect((await monitor('mon/tag', 'tag.json')).code).toBe(0);
    const rev2 = (await clientOf(origin.host, 'mon/tag').getManifest('rev-2'))!.digest;
    await repointTag(origin.host, 'mon/tag', 'rev-1', rev2);
    const moved = await monitor('mon/tag', 'tag.json');
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(new RegExp(`DISAGREEMENT TLOG_TAG_MISMATCH ${origin.host}/mon/tag: .*rev-1 names ${rev2}`));

    await published('mon/sig', 1);
    expect((await monitor('mon/sig', 'sig.json')).code).toBe(0);
    await forgeCheckpoint(mirror.host, 'mon/sig');
    const forged = await monitor('mon/sig', 'sig.json');
    expect(forged.code).toBe(1);
    expect(forged.stderr).toMatch(new RegExp(`DISAGREEMENT TLOG_NOTE_BAD_SIGNATURE ${mirror.host}/mon/sig`));
  });

  it('with --interval it follows the logs and exits 1 at the first disagreement', async () => {
    await published('mon/follow', 1);
    const p = spawn(
      process.execPath,
      [
        gantryBin(),
        'log',
        'monitor',
        `${origin.host}/mon/follow`,
        '--state',
        join(work, 'follow.json'),
        '--key',
        `${origin.host}=${key.verifierKey}`,
        '--plain-http',
        '--interval',
        '200ms',
      ],
      { cwd: work, env: { ...process.env, HOME: work, XDG_CONFIG_HOME: join(work, 'config') }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number>((res) => p.on('close', (c) => res(c ?? -1)));
    try {
      const deadline = Date.now() + 20_000;
      while ((stdout.match(/^ok /gm) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect((stdout.match(/^ok /gm) ?? []).length).toBeGreaterThanOrEqual(2);
      await forgeCheckpoint(origin.host, 'mon/follow');
      expect(await exited).toBe(1);
      expect(stderr).toMatch(/DISAGREEMENT TLOG_NOTE_BAD_SIGNATURE/);
    } finally {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
  });

  it('no key is a usage error (2): a monitor that does not check signatures proves nothing', async () => {
    const r = await gantry(['log', 'monitor', `${origin.host}/mon/ok`, '--state', join(work, 'x.json'), '--plain-http']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no log key/);
    writeFileSync(join(work, 'bad-state.json'), '{"version": 7}');
    const bad = await gantry([
      'log',
      'monitor',
      `${origin.host}/mon/ok`,
      '--state',
      join(work, 'bad-state.json'),
      '--key',
      `${origin.host}=${key.verifierKey}`,
      '--plain-http',
    ]);
    expect(bad.code).toBe(2);
  });
});
