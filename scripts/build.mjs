// Transpile every TypeScript source file to dist/ with esbuild (one file in, one file out,
// imports untouched). Type checking is tsc's job (`npm run typecheck`); keeping the two apart
// means a type error elsewhere never stops a child process entry point from being built.
import { build } from 'esbuild';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const roots = [
  'runtime',
  'client',
  'api',
  'par',
  'membrane',
  'tlog',
  'registry',
  'controller',
  'agent',
  'apiserver',
  'cli',
  'sandbox',
  'dashboard',
  'bench',
];

function sources(dir) {
  const out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'build') continue;
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const entryPoints = roots.flatMap((r) => sources(join(root, r)));
// dist/ is not wiped first: other processes (tests, a running sandbox) may be executing from it,
// and esbuild overwrites every file it emits.
await build({
  entryPoints,
  outdir: join(root, 'dist'),
  outbase: root,
  bundle: false,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  sourcemap: 'inline',
  logLevel: 'warning',
});

// What `gantry version` reports: the commit this tree was built from, when it is a git checkout.
// A packed package keeps the file from its pack-time build.
{
  const git = (args) => execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let info = {};
  try {
    info = { commit: git(['rev-parse', 'HEAD']), dirty: git(['status', '--porcelain', '--untracked-files=no']) !== '' };
  } catch {
    info = undefined; // not a checkout (e.g. an installed package): keep what was packed
  }
  if (info) writeFileSync(join(root, 'dist', 'build-info.json'), JSON.stringify(info) + '\n');
}
