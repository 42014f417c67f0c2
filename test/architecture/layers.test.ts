/**
 * Layers point down: `cli/` on top; `api/`, `par/`, `runtime/` and `client/` at the bottom;
 * `membrane/` (NATS credentials) sits on `client/`; `controller/` and `agent/` meet only through
 * `api/`; the API emulator (`apiserver/`) stands on `runtime/` alone. Every import of every
 * source file is read (static and dynamic) and resolved to the folder it lands in; an import
 * that points up fails here, naming the file and the import. Type-only imports are allowed where
 * listed: they carry no code (api/reasons.ts names the error-code types of par/, registry/ and
 * agent/). Every top-level folder with TypeScript sources must have a rule, so none escapes.
 *
 * A rule may name a sub-folder (`sandbox/controlplane`): its files follow that rule instead of
 * their top-level folder's, and a sibling sub-folder counts as another folder. Entry rules say
 * a part is reached only through its `index.ts`: the emulator from everywhere but tests, and
 * every part that has an index from `cli/` (today's exceptions listed, to shrink).
 */
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';

const root = packageRoot();
const bottom = ['runtime', 'client', 'par'];
const belowCli = [
  'api',
  'registry',
  'tlog',
  'par',
  'runtime',
  'client',
  'controller',
  'agent',
  'sandbox',
  'membrane',
  'apiserver',
  'dashboard',
];
/** folder (or sub-folder) → the folders its files may import code from (besides its own). */
const allowed: Record<string, string[]> = {
  runtime: [],
  client: [],
  par: [],
  api: ['runtime'],
  apiserver: ['runtime'],
  registry: ['par', 'runtime', 'api'],
  tlog: ['registry', 'par', 'runtime', 'api'],
  membrane: ['client'],
  controller: ['api', 'registry', 'tlog', 'par', 'runtime', 'client', 'membrane'],
  agent: ['api', 'registry', 'tlog', 'par', 'runtime', 'client'],
  sandbox: ['api', 'registry', 'tlog', 'par', 'runtime', 'client', 'controller', 'agent', 'membrane', 'apiserver'],
  // the real control plane needs only the emulator's TLS material and kubeconfig writer
  'sandbox/controlplane': ['runtime', 'apiserver'],
  // the dashboard reads the cluster as the user: the API's types and the Kubernetes client only
  dashboard: ['api', 'runtime'],
  bench: ['api', 'registry', 'tlog', 'par', 'runtime', 'client', 'controller', 'agent', 'sandbox', 'membrane', 'apiserver', 'dashboard'],
  cli: belowCli,
};
const typeOnly: Record<string, string[]> = { api: ['par', 'registry', 'agent'] };
/** Folders with TypeScript that no rule covers: tests may import anything. */
const unruled = ['test'];

/** `parts` are imported only through their index.ts from files under `from` (`except`: file → imported files). */
interface EntryRule {
  from: string[];
  parts: string[];
  except?: Record<string, string[]>;
}
const partsWithIndex = belowCli.filter((p) => existsSync(join(root, p, 'index.ts')));
const entryRules: EntryRule[] = [
  // the emulator's entry loads the server (and its optional packages) only when one is started
  { from: ['sandbox', 'bench', 'cli'], parts: ['apiserver'] },
  {
    from: ['cli'],
    parts: partsWithIndex,
    // what cli/ takes from parts' internals today; each should come through the part's index.ts
    except: {
      // the agent's index loads the whole agent (the Kubernetes client among it); these
      // answer `gantry abi check`, the pool size in `gantry agent --help` and `gantry version`
      'cli/abi.ts': ['agent/host/abi-check.ts'],
      'cli/agent.ts': ['agent/host/pool.ts'],
      // the keeper runs no Kubernetes client: it loads the keeper and the cgroup helper only
      'cli/host-keeper.ts': ['agent/keeper/server.ts', 'agent/host/memory-cgroup-dir.ts'],
      'cli/version.ts': ['agent/host/abi.ts'],
    },
  },
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Top-level folders holding TypeScript sources (not hidden ones, node_modules or dist). */
function sourceFolders(): string[] {
  return readdirSync(root)
    .filter((n) => !n.startsWith('.') && n !== 'node_modules' && n !== 'dist' && statSync(join(root, n)).isDirectory())
    .filter((n) => sources(join(root, n)).length > 0)
    .sort();
}

/** Every import in a file, relative or a package name: [specifier, type-only?]. */
function specifiersOf(text: string): [string, boolean][] {
  const out: [string, boolean][] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?\sfrom\s+'([^']+)'/gms)) out.push([m[3], !!m[2]]);
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push([m[1], false]);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push([m[1], false]);
  return out;
}

/** Every relative import in a file: [specifier, type-only?]. */
function importsOf(text: string): [string, boolean][] {
  return specifiersOf(text).filter(([s]) => s.startsWith('.'));
}

/** The rule a file follows: the most specific folder or sub-folder with one. */
function ruleFor(file: string): string | undefined {
  const segs = file.split('/');
  for (let n = segs.length - 1; n > 0; n--) {
    const key = segs.slice(0, n).join('/');
    if (allowed[key]) return key;
  }
  return undefined;
}

/** The source an import lands on, relative to the root, as .ts (`apiserver/index.js` → `apiserver/index.ts`). */
function target(file: string, spec: string): string {
  return relative(root, resolve(root, dirname(file), spec))
    .split(/[\\/]/)
    .join('/')
    .replace(/\.js$/, '.ts');
}

const within = (path: string, folder: string): boolean => path === folder || path.startsWith(folder + '/');

function layerViolations(): string[] {
  const bad: string[] = [];
  for (const folder of Object.keys(allowed).filter((f) => !f.includes('/'))) {
    for (const path of sources(join(root, folder))) {
      const file = relative(root, path).split(/[\\/]/).join('/');
      const rule = ruleFor(file)!;
      const may = allowed[rule];
      for (const [spec, isType] of importsOf(readFileSync(path, 'utf8'))) {
        const to = target(file, spec);
        if (within(to, rule) || may.some((f) => within(to, f))) continue;
        const top = to.split('/')[0];
        if (isType && typeOnly[rule]?.includes(top)) continue;
        // a sibling sub-folder is named as such; another top-level folder by its name
        const depth = top === rule.split('/')[0] ? rule.split('/').length : 1;
        bad.push(`${file} imports ${spec} (${rule}/ may not import ${to.split('/').slice(0, depth).join('/')}/)`);
      }
    }
  }
  return bad;
}

/** Imports that break an entry rule, and exceptions no import uses any more (drop them from the list). */
function entryViolations(): string[] {
  const bad: string[] = [];
  const used = new Set<string>();
  for (const rule of entryRules) {
    for (const from of rule.from) {
      for (const path of sources(join(root, from))) {
        const file = relative(root, path).split(/[\\/]/).join('/');
        for (const [spec] of importsOf(readFileSync(path, 'utf8'))) {
          const to = target(file, spec);
          const part = rule.parts.find((p) => within(to, p));
          if (!part || within(file, part) || to === `${part}/index.ts`) continue;
          if (rule.except?.[file]?.includes(to)) {
            used.add(`${file} → ${to}`);
            continue;
          }
          bad.push(`${file} imports ${spec}: ${part}/ is reached only through ${part}/index.ts`);
        }
      }
    }
    for (const [file, targets] of Object.entries(rule.except ?? {}))
      for (const to of targets) if (!used.has(`${file} → ${to}`)) bad.push(`stale exception: ${file} no longer imports ${to}`);
  }
  return [...new Set(bad)];
}

/** The package names a file and every file it imports statically (not import()) import. */
function staticPackages(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(join(root, file), 'utf8').matchAll(
      /^\s*(?:import|export)\s+(type\s+)?[^'";]*?\sfrom\s+'([^']+)'|^\s*import\s+'([^']+)'/gms,
    )) {
      if (m[1]) continue;
      const spec = m[2] ?? m[3];
      if (spec.startsWith('.')) visit(target(file, spec));
      else if (!spec.startsWith('node:')) packages.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
    }
  };
  visit(entry);
  return packages;
}

describe('layers', () => {
  it('no source below cli/ imports from cli/, and every folder imports only from the ones below it', () => {
    expect(layerViolations()).toEqual([]);
  });

  it('parts with an entry are reached through it: the emulator from everywhere, every part from cli/', () => {
    expect(entryViolations()).toEqual([]);
  });

  it('every top-level folder with TypeScript sources has a rule', () => {
    expect(sourceFolders().filter((f) => !allowed[f] && !unruled.includes(f))).toEqual([]);
  });

  it("the emulator's optional packages are imported only in apiserver/, and not by its entry's static imports", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const optional = Object.keys(pkg.optionalDependencies ?? {});
    expect(optional.length).toBeGreaterThan(0);
    const importers = sourceFolders()
      .filter((f) => !unruled.includes(f))
      .flatMap((f) => sources(join(root, f)))
      .filter((p) => specifiersOf(readFileSync(p, 'utf8')).some(([s]) => optional.some((o) => s === o || s.startsWith(o + '/'))))
      .map((p) => relative(root, p).split(/[\\/]/)[0]);
    expect([...new Set(importers)]).toEqual(['apiserver']);
    expect([...staticPackages('apiserver/index.ts')].filter((p) => optional.includes(p))).toEqual([]);
  });

  it('the gantry command starts without the Kubernetes client: a command that needs it imports it when it runs', () => {
    // @kubernetes/client-node adds ~50 MB to every CLI process (gantry par verify's 200 MB
    // bound, test/par/memory.test.ts, counts them); a static import of it slipped in once
    expect([...staticPackages('cli/main.ts')]).not.toContain('@kubernetes/client-node');
    expect([...staticPackages('runtime/kube.ts')]).toContain('@kubernetes/client-node');
  });

  it('the rules hold the bottom layers to themselves and keep the controller and the agent apart', () => {
    for (const b of bottom) expect(allowed[b]).toEqual([]);
    for (const [folder, may] of Object.entries(allowed)) if (folder !== 'cli') expect(may).not.toContain('cli');
    expect(allowed.controller).not.toContain('agent');
    expect(allowed.agent).not.toContain('controller');
    expect(allowed.apiserver).toEqual(['runtime']);
  });

  it('a sub-folder rule takes over from its folder, and a sibling sub-folder is another folder', () => {
    expect(ruleFor('sandbox/controlplane/index.ts')).toBe('sandbox/controlplane');
    expect(ruleFor('sandbox/launcher/sandbox.ts')).toBe('sandbox');
    expect(ruleFor('cli/main.ts')).toBe('cli');
    expect(target('sandbox/launcher/sandbox.ts', '../controlplane/index.js')).toBe('sandbox/controlplane/index.ts');
    expect(within('sandbox/launcher/x.ts', 'sandbox/controlplane')).toBe(false);
    expect(within('sandbox/controlplane/x.ts', 'sandbox/controlplane')).toBe(true);
    expect(within('sandboxes/x.ts', 'sandbox')).toBe(false);
  });

  it('the import reader sees static, re-export, type-only and dynamic imports', () => {
    const text = [
      "import { a } from '../cli/launch.js';",
      "import type { B } from '../par/errors.js';",
      "export { c } from './c.js';",
      'import {\n  d,\n  e,\n} from "node:fs";',
      "const m = await import('../cli/main.js');",
      "import './side-effect.js';",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      ['../cli/launch.js', false],
      ['../par/errors.js', true],
      ['./c.js', false],
      ['./side-effect.js', false],
      ['../cli/main.js', false],
    ]);
  });
});
