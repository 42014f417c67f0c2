/**
 * `npm pack` makes a package that works on its own: installed into an empty folder (no build
 * step, no devDependencies, no install scripts), its `gantry` command generates keys, creates
 * and verifies a signed archive, and says which version, commit, ABI and API it is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};

let work: string;
let files: string[];
let gantry: (...args: string[]) => { status: number | null; stdout: string; stderr: string };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'gantry-pack-'));
  // npm test has just built dist/; --ignore-scripts keeps `prepare` from rebuilding it under
  // tests that are running from it.
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' }),
  );
  files = packed[0].files.map((f: { path: string }) => f.path);
  const tarball = join(work, packed[0].filename);
  const app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'empty-app', private: true }));
  // The dependencies are in npm's cache from `npm ci`; --prefer-offline avoids asking the
  // registry again, and npm 11 runs no install scripts unless approved (none are needed).
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--omit=dev', tarball], {
    cwd: app,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const bin = join(app, 'node_modules', '.bin', 'gantry');
  gantry = (...args) => {
    const r = spawnSync(bin, args, { cwd: app, encoding: 'utf8', env: { ...process.env, GANTRY_LOG_LEVEL: 'error' } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the npm package', () => {
  it('holds the built command, the C ABI header and the docs, and no tests or state', () => {
    for (const f of [
      'bin/gantry.js',
      'dist/cli/main.js',
      'dist/agent/host/main.js',
      'dist/build-info.json',
      'providers/gantry_provider.h',
      'docs/abi.md',
      'docs/par.md',
      'crds/gantry.dev_providers.yaml',
      'README.md',
      'package.json',
    ]) {
      expect(files).toContain(f);
    }
    const unwanted = files.filter(
      (f) =>
        /^(test|bench|scripts|node_modules|\.sandbox|\.ci|reports)\//.test(f) ||
        f.startsWith('dist/bench/') ||
        f.endsWith('.ts') ||
        f.includes('providers/build/'),
    );
    expect(unwanted).toEqual([]);
  });

  it('gantry --version and gantry version --json say what the installed copy is', () => {
    const line = gantry('--version');
    expect(line.status).toBe(0);
    expect(line.stdout).toMatch(
      new RegExp(
        `^gantry ${pkg.version.replace(/\./g, '\\.')} \\(commit [0-9a-f]{12}(\\+dirty)?, provider ABI v1, API gantry\\.dev/v1alpha1\\)\\n$`,
      ),
    );
    const json = gantry('version', '--json');
    expect(json.status).toBe(0);
    const v = JSON.parse(json.stdout);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    expect(v).toMatchObject({ version: pkg.version, commit: head, abiVersion: 1, apiVersion: 'gantry.dev/v1alpha1' });
  });

  it('generates keys, creates a signed archive and verifies it, from the installed package alone', () => {
    const dir = join(work, 'app');
    expect(gantry('keys', 'generate', '--type', 'account', '--out', 'issuer.nk').status).toBe(0);
    const issuer = gantry('keys', 'public', 'issuer.nk');
    expect(issuer.status).toBe(0);
    expect(issuer.stdout.trim()).toMatch(/^A[A-Z2-7]{55}$/);
    writeFileSync(join(dir, 'lib.so'), Buffer.from('a stand-in for a shared library'));
    const created = gantry(
      'par',
      'create',
      '--name',
      'Packed',
      '--vendor',
      'test',
      '--capid',
      'acme:packed',
      '--version',
      '1.0.0',
      '--revision',
      '1',
      '--issuer',
      'issuer.nk',
      '--binary',
      'x86_64-linux=lib.so',
      '-o',
      'packed.par.gz',
    );
    expect(created.stderr).toBe('');
    expect(created.status).toBe(0);
    const ok = gantry('par', 'verify', '--issuer', issuer.stdout.trim(), 'packed.par.gz');
    expect(ok.status).toBe(0);
    // and it still refuses what it should: another issuer is not trusted
    const other = gantry('keys', 'generate', '--type', 'account');
    const otherKey = other.stdout.split(/\s+/).find((w) => /^A[A-Z2-7]{55}$/.test(w))!;
    const refused = gantry('par', 'verify', '--issuer', otherKey, 'packed.par.gz');
    expect(refused.status).toBe(1);
  });

  it('needs only its declared dependencies at run time', () => {
    // every bare import in the packed dist/ resolves to a declared dependency (the API emulator's
    // are optional: npm installs them by default, and apiserver/ names the missing one) or a builtin
    const distFiles = files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    const bare = new Set<string>();
    for (const f of distFiles) {
      const text = readFileSync(join(root, f), 'utf8');
      for (const m of text.matchAll(
        /(?:^|\n)\s*(?:import|export)[^'"\n]*?from\s*["']([^"'.][^"']*)["']|import\(\s*["']([^"'.][^"']*)["']\s*\)/g,
      )) {
        const spec = m[1] ?? m[2];
        if (spec.startsWith('node:')) continue;
        bare.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
      }
    }
    const declared = { ...pkg.dependencies, ...pkg.optionalDependencies };
    const undeclared = [...bare].filter((name) => !(name in declared));
    expect(bare.size).toBeGreaterThan(5);
    expect(undeclared).toEqual([]);
  });
});
