/**
 * Namespace mapping (registry/namespaces.ts): short names resolve through the most specific
 * key, files layer key by key, bad files and unmapped short names fail with their own codes,
 * and `gantry par push/pull/revisions` take short names against a real registry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isShortName, loadNamespaceMap, parseNamespaceMap } from '../../registry/namespaces.js';
import type { RegistryError } from '../../registry/errors.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner } from '../registry/fixtures.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as RegistryError).code;
  }
  return undefined;
};

describe('mapping short names', () => {
  const map = parseNamespaceMap(
    [
      'namespaces:',
      '  acme/*: registry.acme.example/providers/acme',
      '  acme/special: other.example/special',
      '  acme/team/*: { registry: "127.0.0.1:5000/team", plainHttp: true, via: "mirror.example/team" }',
    ].join('\n'),
    'test.yaml',
  );

  it('a pattern appends the rest of the name; an exact key and a longer pattern win', () => {
    expect(map.resolve('acme/payments').ref).toBe('registry.acme.example/providers/acme/payments');
    expect(map.resolve('acme/special').ref).toBe('other.example/special');
    const team = map.resolve('acme/team/kv');
    expect(team).toMatchObject({
      ref: '127.0.0.1:5000/team/kv',
      via: 'mirror.example/team/kv',
      mapped: { short: 'acme/team/kv', entry: { plainHttp: true } },
    });
  });

  it('full references and oci-layout: are never rewritten', () => {
    for (const ref of ['127.0.0.1:5000/acme/x', 'ghcr.io/acme/x', 'localhost/acme/x', 'oci-layout:/tmp/x']) {
      expect(isShortName(ref)).toBe(false);
      expect(map.resolve(ref)).toEqual({ ref });
    }
  });

  it('an unmapped short name is UNMAPPED_NAME naming the namespace and the file; with no mapping refs are literal', () => {
    let err: RegistryError | undefined;
    try {
      map.resolve('globex/kv');
    } catch (e) {
      err = e as RegistryError;
    }
    expect(err?.code).toBe('UNMAPPED_NAME');
    expect(err?.message).toMatch(/globex\/\*.*test\.yaml|test\.yaml.*globex\/\*/);
    expect(parseNamespaceMap('namespaces: {}', 'x').resolve('globex/kv')).toEqual({ ref: 'globex/kv' });
  });

  it('bad files are BAD_NAMESPACE_MAP with the path of the bad field', () => {
    const bad = (text: string) => {
      try {
        parseNamespaceMap(text, 'bad.yaml');
      } catch (e) {
        return e as RegistryError;
      }
      throw new Error('accepted');
    };
    expect(bad('namespaces:\n  acme/*: acme/short').message).toMatch(/bad\.yaml: namespaces\.acme\/\*.*HOST\[:PORT\]\/PATH/);
    expect(bad('namespaces:\n  Acme/*: r.example/x').code).toBe('BAD_NAMESPACE_MAP');
    expect(bad('namespaces:\n  acme/*: { registry: r.example/x, plainhttp: true }').message).toMatch(/plainhttp/);
    expect(bad('namespaces: [').code).toBe('BAD_NAMESPACE_MAP');
    expect(bad('nmespaces: {}').code).toBe('BAD_NAMESPACE_MAP');
  });

  it('a later file overrides an earlier one key by key; a missing optional file is skipped, a missing required one is not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gantry-ns-'));
    try {
      writeFileSync(join(dir, 'user.yaml'), 'namespaces:\n  acme/*: user.example/acme\n  tools/*: user.example/tools\n');
      writeFileSync(join(dir, 'project.yaml'), 'namespaces:\n  acme/*: project.example/acme\n');
      const m = loadNamespaceMap([
        { path: join(dir, 'user.yaml') },
        { path: join(dir, 'project.yaml') },
        { path: join(dir, 'absent.yaml'), optional: true },
      ]);
      expect(m.resolve('acme/kv').ref).toBe('project.example/acme/kv');
      expect(m.resolve('tools/kv').ref).toBe('user.example/tools/kv');
      expect(code(() => loadNamespaceMap([{ path: join(dir, 'absent.yaml') }]))).toBe('BAD_NAMESPACE_MAP');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('gantry par with short names (real registry)', () => {
  let reg: RegistryServer;
  let work: string;
  let project: string;

  const gantry = (args: string[], cwd = project) => gantryIn(cwd, work, args);

  beforeAll(async () => {
    reg = await startRegistry();
    work = mkdtempSync(join(tmpdir(), 'gantry-ns-cli-'));
    project = join(work, 'project');
    mkdirSync(project);
    mkdirSync(join(work, 'config', 'gantry'), { recursive: true });
  });
  afterAll(async () => {
    await reg?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('push/revisions/pull by short name land in the mapped repository; the project file overrides the user one', async () => {
    const signer = newSigner();
    writeFileSync(join(work, 'r1.par'), await makeArchive(signer, 1));
    // the user's file points acme/* elsewhere (unreachable); the project's wins
    writeFileSync(join(work, 'config', 'gantry', 'namespaces.yaml'), 'namespaces:\n  acme/*: registry.invalid/acme\n');
    writeFileSync(
      join(project, 'gantry.namespaces.yaml'),
      `namespaces:\n  acme/*: { registry: "${reg.host}/providers/acme", plainHttp: true }\n`,
    );
    const pushed = await gantry(['par', 'push', join(work, 'r1.par'), 'acme/payments', '--json']);
    expect(pushed.stderr).toBe('');
    expect(JSON.parse(pushed.stdout).revision).toBe(1);
    // the full name sees the same revision
    const full = await gantry(['par', 'revisions', `${reg.host}/providers/acme/payments`, '--plain-http', '--json']);
    expect(JSON.parse(full.stdout).map((r: any) => r.revision)).toEqual([1]);
    const pulled = await gantry(['par', 'pull', 'acme/payments', '--json', '-o', join(work, 'out.par')]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout).digest).toBe(JSON.parse(pushed.stdout).digest);
  });

  it("gantry log reads a short name through the mapping, with the mapping's logKey standing in for --key", async () => {
    const made = await gantry(['log', 'keygen', 'acme-log', '-o', join(work, 'log.key')]);
    expect(made.code, made.stderr).toBe(0);
    const vkey = made.stdout.trim();
    writeFileSync(join(work, 'r1-logged.par'), await makeArchive(newSigner(), 1));
    writeFileSync(
      join(project, 'gantry.namespaces.yaml'),
      `namespaces:\n  acme/*: { registry: "${reg.host}/providers/acme", plainHttp: true, logKey: "${vkey}" }\n`,
    );
    const pushed = await gantry(['par', 'push', join(work, 'r1-logged.par'), 'acme/logged', '--log-key', join(work, 'log.key')]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const cp = await gantry(['log', 'checkpoint', 'acme/logged', '--json']);
    expect(cp.code, cp.stderr).toBe(0);
    // verified against the mapped key, under the full name's origin
    expect(JSON.parse(cp.stdout)).toMatchObject({ origin: `${reg.host}/providers/acme/logged`, verified: true });
    const verified = await gantry(['log', 'verify', 'acme/logged']);
    expect(verified.code, verified.stderr).toBe(0);
    // another key named on the command line wins over the mapping's, and does not verify
    const other = await gantry(['log', 'keygen', 'acme-log', '-o', join(work, 'other.key')]);
    const refused = await gantry(['log', 'verify', 'acme/logged', '--key', other.stdout.trim()]);
    expect(refused.code).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(/TLOG_NOTE_UNVERIFIED/);
  });

  it('an unmapped short name exits 2 with UNMAPPED_NAME; a broken mapping file exits 2 naming it', async () => {
    const r = await gantry(['par', 'revisions', 'globex/kv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/UNMAPPED_NAME.*globex/);
    writeFileSync(join(project, 'gantry.namespaces.yaml'), 'namespaces:\n  acme/*: 42\n');
    const broken = await gantry(['par', 'revisions', 'acme/payments']);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toMatch(/BAD_NAMESPACE_MAP.*gantry\.namespaces\.yaml/);
  });
});
