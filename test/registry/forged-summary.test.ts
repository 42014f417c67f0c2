/**
 * Issue 36's hole, attacked in a real docker-registry: a genuine archive re-tagged with a config
 * blob that states what its claims do not sign (pushed with Gantry's own low-level client,
 * registry/distribution, as oras or any registry user could). Every signed field forged alone,
 * another archive's claims JWT, a garbage and a truncated JWT: pull refuses with SUMMARY_MISMATCH
 * naming the field; the listing (resolve, `par revisions` — the CLI as a process) fails naming
 * the tag and field and never prints the forged value; `mirrorRepository` refuses to copy it.
 * A genuine archive still pulls, lists, resolves and mirrors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { DistributionClient, mirrorRepository, openArchiveStore } from '../../registry/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner, type Signer } from './fixtures.js';
import { type ForgeableConfig, forgeSummary } from './forge-summary.js';

let reg: RegistryServer;
let signer: Signer;
let home: string;
const gantry = (args: string[]) => gantryIn(packageRoot(), home, args, 30_000);

beforeAll(async () => {
  reg = await startRegistry();
  signer = newSigner();
  home = mkdtempSync(join(tmpdir(), 'gantry-forged-'));
});
afterAll(async () => {
  await reg?.stop();
  rmSync(home, { recursive: true, force: true });
});

type Config = ForgeableConfig;
let seq = 0;

/** A repository holding genuine revisions 1 and 2, then rev-2 re-tagged with its config forged (the same layer). */
async function forgedRepository(forge: (c: Config, other: Config) => void): Promise<{ ref: string; digest: string }> {
  const repo = `forged/r${++seq}`;
  const ref = `${reg.host}/${repo}`;
  const store = openArchiveStore(ref, { plainHttpRegistries: [reg.host] });
  await store.push(await makeArchive(signer, 1));
  await store.push(await makeArchive(signer, 2));
  const digest = await forgeSummary(reg.host, repo, 'rev-2', async (c, read) => forge(c, await read('rev-1')));
  return { ref, digest };
}

const forgeries: Array<[string, (c: Config, other: Config) => void, string]> = [
  ['name', (c) => void (c.name = 'Evil KV'), 'Evil KV'],
  ['vendor', (c) => void (c.vendor = 'Evil Corp'), 'Evil Corp'],
  ['capid', (c) => void (c.capid = 'evil:cap'), 'evil:cap'],
  ['version', (c) => void (c.version = '9.9.9'), '9.9.9'],
  ['revision', (c) => void (c.revision = 9), '"revision": 9'],
  ['issuer', (c) => void (c.issuer = publicKeyFromSeed(generateSeed('account'))), ''],
  ['subject', (c) => void (c.subject = publicKeyFromSeed(generateSeed('service'))), ''],
  ['targets', (c) => void (c.targets['x86_64-linux'].sha256 = 'ab'.repeat(32)), 'ab'.repeat(32)],
  ['targets', (c) => void (c.targets['x86_64-windows'] = { sha256: 'cd'.repeat(32), size: 1 }), 'x86_64-windows'],
  ['targets', (c) => void delete c.targets['aarch64-linux'], ''],
];

describe('a config blob forged field by field', () => {
  it.each(forgeries)(
    '%s: pull, resolve and the listing refuse it naming the field; the genuine revision 1 still pulls',
    async (field, forge) => {
      const { ref, digest } = await forgedRepository(forge);
      const store = openArchiveStore(ref, { plainHttpRegistries: [reg.host] });
      const named = expect.objectContaining({
        code: 'SUMMARY_MISMATCH',
        message: expect.stringContaining(`summary field "${field}" says`),
      });
      // by digest, the archive in hand: every field against it
      await expect(store.pull(digest)).rejects.toThrow(named);
      // through the listing: the tag is named too
      const listed = expect.objectContaining({
        code: 'SUMMARY_MISMATCH',
        message: expect.stringContaining(`${ref}:rev-2: summary field "${field}" says`),
      });
      await expect(store.revisions()).rejects.toThrow(listed);
      await expect(store.resolve()).rejects.toThrow(listed);
      await expect(store.pull(2)).rejects.toThrow(listed);
      // nor is a new revision pushed over a repository someone altered (the revision rules read the listing)
      await expect(store.push(await makeArchive(signer, 3))).rejects.toThrow(listed);
      // rev-1's tag is genuine and read on its own
      const one = await store.resolve(1);
      expect(one.summary.revision).toBe(1);
      expect((await store.pull(one.digest)).verified.claims.revision).toBe(1);
    },
  );

  it("the issue's forgery (name, version, capid at once): `par revisions --json` fails naming the field and prints no forged value", async () => {
    const { ref } = await forgedRepository((c) => Object.assign(c, { name: 'Evil KV', version: '9.9.9', capid: 'evil:cap' }));
    for (const args of [['--json'], []]) {
      const r = await gantry(['par', 'revisions', ref, '--plain-http', ...args]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(`${ref}:rev-2: summary field "name" says "Evil KV" but the signed claims say "Test Payments"`);
      expect(r.stdout).not.toMatch(/Evil KV|9\.9\.9|evil:cap/);
    }
    const pull = await gantry(['par', 'pull', ref, '--revision', '2', '--plain-http', '-o', join(home, 'out.par.gz')]);
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toContain('summary field "name" says "Evil KV"');
  });

  it.each([
    [
      "another genuine archive's claims JWT",
      (c: Config, other: Config) => void (c.claimsJwt = other.claimsJwt),
      'summary field "version" says "0.2.0" but the signed claims say "0.1.0"',
      'summary field "claimsJwt"',
    ],
    [
      'a garbage claims JWT',
      (c: Config) => void (c.claimsJwt = 'garbage'),
      "the summary's claims JWT does not verify",
      'summary field "claimsJwt" says "garbage"',
    ],
    [
      'a truncated claims JWT',
      (c: Config) => void (c.claimsJwt = c.claimsJwt.slice(0, -20)),
      "the summary's claims JWT does not verify",
      'summary field "claimsJwt"',
    ],
  ])('%s: the listing and pull refuse it', async (_, forge, listing, pulled) => {
    const { ref, digest } = await forgedRepository(forge);
    const store = openArchiveStore(ref, { plainHttpRegistries: [reg.host] });
    await expect(store.revisions()).rejects.toThrow(
      expect.objectContaining({ code: 'SUMMARY_MISMATCH', message: expect.stringContaining(listing) }),
    );
    await expect(store.pull(digest)).rejects.toThrow(
      expect.objectContaining({ code: 'SUMMARY_MISMATCH', message: expect.stringContaining(pulled) }),
    );
    const r = await gantry(['par', 'revisions', ref, '--plain-http', '--json']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(listing);
  });

  it('unsigned fields: a forged target size or format lists (never shown) but does not pull', async () => {
    const sized = await forgedRepository((c) => void (c.targets['x86_64-linux'].size = 1));
    const zip = await forgedRepository((c) => void (c.format = 'zip'));
    for (const [{ ref, digest }, field] of [
      [sized, 'targets'],
      [zip, 'format'],
    ] as const) {
      const r = await gantry(['par', 'revisions', ref, '--plain-http', '--json']);
      expect(r.code).toBe(0);
      const listed = JSON.parse(r.stdout);
      expect(listed.map((x: any) => x.revision)).toEqual([1, 2]);
      // what --json shows of targets is what the claims sign: hashes, no sizes, no format
      for (const x of listed) for (const t of Object.values<any>(x.targets)) expect(Object.keys(t)).toEqual(['sha256']);
      expect(r.stdout).not.toContain('zip');
      await expect(openArchiveStore(ref, { plainHttpRegistries: [reg.host] }).pull(digest)).rejects.toThrow(
        expect.objectContaining({ code: 'SUMMARY_MISMATCH', message: expect.stringContaining(`summary field "${field}" says`) }),
      );
    }
  });
});

describe('mirroring', () => {
  it('refuses to copy a forged config, naming the tag and field; the tags before it are copied genuine', async () => {
    const { ref, digest } = await forgedRepository((c) => void (c.capid = 'evil:cap'));
    const src = new DistributionClient(reg.host, ref.slice(reg.host.length + 1), { plainHttpHosts: [reg.host] });
    const dstRepo = `mirror/r${++seq}`;
    const dst = new DistributionClient(reg.host, dstRepo, { plainHttpHosts: [reg.host] });
    await expect(mirrorRepository(src, dst)).rejects.toThrow(
      expect.objectContaining({
        code: 'SUMMARY_MISMATCH',
        message: expect.stringContaining(`${ref}:rev-2: summary field "capid" says "evil:cap"`),
      }),
    );
    // the version tag 0.2.0 still names the genuine revision 2 (tags go in order: 0.1.0, 0.2.0, rev-1, rev-2)
    expect(await dst.hasManifest(digest)).toBe(false);
    expect(await dst.getManifest('rev-2')).toBeUndefined();
    const copied = await openArchiveStore(`${reg.host}/${dstRepo}`, { plainHttpRegistries: [reg.host] }).revisions();
    expect(copied.map((x) => x.revision)).toEqual([1, 2]);
    expect(copied.map((x) => x.digest)).not.toContain(digest);
    const cli = await gantry(['par', 'mirror', ref, `${reg.host}/mirror/r${++seq}`, '--plain-http']);
    expect(cli.code).not.toBe(0);
    expect(cli.stderr).toContain('summary field "capid" says "evil:cap"');
  });

  it('copies a genuine repository, which then lists, resolves and pulls', async () => {
    const ref = `${reg.host}/genuine/r${++seq}`;
    const store = openArchiveStore(ref, { plainHttpRegistries: [reg.host] });
    await store.push(await makeArchive(signer, 1));
    const pushed = await store.push(await makeArchive(signer, 2));
    const dstRef = `${reg.host}/genuine/m${++seq}`;
    const r = await gantry(['par', 'mirror', ref, dstRef, '--plain-http']);
    expect(r.code).toBe(0);
    const copy = openArchiveStore(dstRef, { plainHttpRegistries: [reg.host] });
    const listed = await copy.revisions();
    expect(listed.map((x) => [x.revision, x.digest])).toEqual([
      [1, expect.any(String)],
      [2, pushed.digest],
    ]);
    // what the listing shows is the claims' summary: the pushed one less the unsigned sizes and format
    const { format: _f, targets: _t, ...signed } = pushed.summary;
    expect(listed[1].summary).toMatchObject(signed);
    expect(listed[1].summary).not.toHaveProperty('format');
    expect(Object.values(listed[1].summary.targets).map((t) => Object.keys(t))).toEqual([['sha256'], ['sha256']]);
    expect((await copy.resolve()).digest).toBe(pushed.digest);
    expect((await copy.pull(2)).verified.claims.version).toBe('0.2.0');
    const json = JSON.parse((await gantry(['par', 'revisions', dstRef, '--plain-http', '--json'])).stdout);
    expect(json.map((x: any) => [x.revision, x.name, x.version, x.capid])).toEqual([
      [1, 'Test Payments', '0.1.0', 'examples:payments'],
      [2, 'Test Payments', '0.2.0', 'examples:payments'],
    ]);
  });
});
