/**
 * What `gantry par push` writes for tools Gantry did not write, against a real docker-registry:
 * the archive layer's title for names with spaces, unicode, slashes and only dots (read back
 * with the registry client); titles on the transparency log's layers; `--media-types wasmcloud`
 * writing wash's layout for tar and tar.gz and refusing a zip before anything is uploaded,
 * while a zip under Gantry's types still pushes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPar, type ParFormat } from '../../par/index.js';
import {
  DistributionClient,
  GANTRY_CONFIG,
  GANTRY_LAYER,
  openArchiveStore,
  WASMCLOUD_CONFIG,
  WASMCLOUD_LAYER,
} from '../../registry/index.js';
import { packageRoot } from '../../runtime/paths.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { newSigner, type Signer } from './fixtures.js';

const TITLE = 'org.opencontainers.image.title';
const gantry = (args: string[]) => gantryIn(packageRoot(), work, args, 30_000);

let reg: RegistryServer;
let work: string;
let signer: Signer;

beforeAll(async () => {
  reg = await startRegistry();
  work = mkdtempSync(join(tmpdir(), 'gantry-push-title-'));
  signer = newSigner();
});
afterAll(async () => {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
});

const repo = (what: string): string => `titles/${what}-${Math.random().toString(36).slice(2, 8)}`;
const client = (r: string) => new DistributionClient(reg.host, r, { plainHttpHosts: [reg.host] });

function archive(opts: { name: string; version?: string; revision?: number; format: ParFormat }): Promise<Uint8Array> {
  return createPar({
    name: opts.name,
    vendor: 'Gantry tests',
    capid: 'examples:kv',
    version: opts.version,
    revision: opts.revision ?? 1,
    issuerSeed: signer.issuerSeed,
    subjectSeed: signer.subjectSeed,
    binaries: { 'x86_64-linux': Buffer.from(`binary of ${opts.name} ${Math.random()}`) },
    format: opts.format,
  });
}

async function manifestUnder(r: string, tag: string) {
  const m = await client(r).getManifest(tag);
  expect(m, `${r}:${tag}`).toBeDefined();
  return JSON.parse(Buffer.from(m!.bytes).toString('utf8'));
}

describe('archive layer titles in the pushed manifest', () => {
  it.each<[string, string | undefined, ParFormat, string]>([
    ['Gantry KV', '1.0.0', 'tar.gz', 'gantry-kv-1.0.0.par.gz'],
    ['Gantry KV', '1.0.0', 'tar', 'gantry-kv-1.0.0.par'],
    ['Gantry KV', '1.0.0', 'zip', 'gantry-kv-1.0.0.par'],
    ['Schlüssel Wert', '2.0.0', 'tar.gz', 'schlussel-wert-2.0.0.par.gz'],
    ['键值', '2.0.0', 'tar.gz', 'provider-2.0.0.par.gz'],
    ['../../etc/passwd', '1.0.0', 'tar', 'etc-passwd-1.0.0.par'],
    ['a/b', '1.0.0', 'tar.gz', 'a-b-1.0.0.par.gz'],
    ['...', '1.0.0', 'tar', 'provider-1.0.0.par'],
    ['kv', undefined, 'tar.gz', 'kv-r1.par.gz'],
  ])('name %j, version %j, %s → %s', async (name, version, format, expected) => {
    const r = repo('name');
    const store = openArchiveStore(`${reg.host}/${r}`, { plainHttpRegistries: [reg.host] });
    await store.push(await archive({ name, version, format }));
    const m = await manifestUnder(r, 'rev-1');
    expect(m.layers).toHaveLength(1);
    expect(m.layers[0].mediaType).toBe(GANTRY_LAYER);
    expect(m.layers[0].annotations).toEqual({ [TITLE]: expected });
  });

  it('log entries and checkpoints carry titles too (entry-<i>.txt, checkpoint-<n>.txt)', async () => {
    const r = repo('log');
    const keyFile = join(work, 'log.key');
    expect((await gantry(['log', 'keygen', reg.host, '-o', keyFile])).code).toBe(0);
    for (const revision of [1, 2]) {
      const file = join(work, `log-r${revision}.par.gz`);
      writeFileSync(file, await archive({ name: 'Logged KV', version: `1.${revision}.0`, revision, format: 'tar.gz' }));
      const pushed = await gantry(['par', 'push', file, `${reg.host}/${r}`, '--plain-http', '--json', '--log-key', keyFile]);
      expect(pushed.code, pushed.stderr).toBe(0);
    }
    for (const i of [0, 1])
      expect((await manifestUnder(r, `tlog.entry.${i}`)).layers[0].annotations).toEqual({ [TITLE]: `entry-${i}.txt` });
    for (const n of [1, 2])
      expect((await manifestUnder(r, `tlog.checkpoint.${n}`)).layers[0].annotations).toEqual({ [TITLE]: `checkpoint-${n}.txt` });
  });
});

describe('push --media-types', () => {
  it.each<ParFormat>(['tar', 'tar.gz'])('wasmcloud: a %s pushes in wash’s layout, lists and pulls back', async (format) => {
    const r = repo(`wasmcloud-${format.replace('.', '')}`);
    const file = join(work, `wc.${format === 'tar' ? 'par' : 'par.gz'}`);
    const bytes = await archive({ name: 'Gantry KV', version: '1.0.0', revision: 4, format });
    writeFileSync(file, bytes);
    const pushed = await gantry(['par', 'push', file, `${reg.host}/${r}`, '--plain-http', '--json', '--media-types', 'wasmcloud']);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(JSON.parse(pushed.stdout)).toMatchObject({ revision: 4 });
    const m = await manifestUnder(r, '1.0.0');
    expect(m.artifactType).toBeUndefined();
    expect(m.config).toMatchObject({ mediaType: WASMCLOUD_CONFIG, size: 2 });
    expect(Buffer.from(await client(r).getBlob(m.config.digest, 2)).toString()).toBe('{}');
    expect(m.layers).toEqual([
      expect.objectContaining({
        mediaType: WASMCLOUD_LAYER,
        size: bytes.length,
        annotations: { [TITLE]: `gantry-kv-1.0.0${format === 'tar' ? '.par' : '.par.gz'}` },
      }),
    ]);
    const store = openArchiveStore(`${reg.host}/${r}`, { plainHttpRegistries: [reg.host] });
    expect(await store.resolve()).toMatchObject({ revision: 4, summary: { name: 'Gantry KV', version: '1.0.0' } });
    expect(Buffer.compare(Buffer.from((await store.pull(4, { trustedIssuers: [signer.issuer] })).bytes), Buffer.from(bytes))).toBe(0);
  });

  it('attack: a zip under wasmcloud types is refused (exit 1, FORMAT_NOT_READABLE, how to make a tar.gz) and nothing reaches the registry', async () => {
    const r = repo('wasmcloud-zip');
    const file = join(work, 'kv.zip');
    writeFileSync(file, await archive({ name: 'Gantry KV', version: '1.0.0', format: 'zip' }));
    const refused = await gantry(['par', 'push', file, `${reg.host}/${r}`, '--plain-http', '--json', '--media-types', 'wasmcloud']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain('FORMAT_NOT_READABLE');
    expect(refused.stderr).toContain("wasmCloud's tools (wash, provider-archive ≥ 0.2) read only tar and tar.gz");
    expect(refused.stderr).toContain('gantry par create --format tar.gz');
    expect(await client(r).listTags()).toEqual([]);

    // the same zip under Gantry's own types pushes
    const ours = await gantry(['par', 'push', file, `${reg.host}/${r}`, '--plain-http', '--json']);
    expect(ours.code, ours.stderr).toBe(0);
    const m = await manifestUnder(r, 'rev-1');
    expect(m.config.mediaType).toBe(GANTRY_CONFIG);
    expect(m.layers[0]).toMatchObject({ mediaType: GANTRY_LAYER, annotations: { [TITLE]: 'gantry-kv-1.0.0.par' } });
  });

  it('an unknown --media-types is a usage error (exit 2) naming the choices, before the file is read', async () => {
    const r = await gantry([
      'par',
      'push',
      join(work, 'no-such.par'),
      `${reg.host}/${repo('bad')}`,
      '--plain-http',
      '--media-types',
      'docker',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--media-types "docker": use gantry or wasmcloud');
  });
});
