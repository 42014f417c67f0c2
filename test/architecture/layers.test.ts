/**
 * Layers point down: `cli/` on top; `api/`, `par/`, `runtime/` and `client/` at the bottom;
 * `membrane/` (NATS credentials) sits on `client/`; `controller/` and `agent/` meet only through `api/`. Every import of every source file is
 * read (static and dynamic) and resolved to the folder it lands in; an import that points up
 * fails here, naming the file and the import. Type-only imports are allowed where listed:
 * they carry no code (api/reasons.ts names the error-code types of par/, registry/ and agent/).
 */
import { describe, it, expect } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';

const root = packageRoot();
const bottom = ['runtime', 'client', 'par'];
/** folder → the top-level folders its files may import code from (besides its own). */
const allowed: Record<string, string[]> = {
  runtime: [],
  client: [],
  par: [],
  api: ['runtime'],
  registry: ['par', 'runtime', 'api'],
  tlog: ['registry', 'par', 'runtime', 'api'],
  membrane: ['client'],
  controller: ['api', 'registry', 'tlog', 'par', 'runtime', 'client', 'membrane'],
  agent: ['api', 'registry', 'tlog', 'par', 'runtime', 'client'],
  apiserver: ['runtime'],
  sandbox: ['api', 'registry', 'tlog', 'par', 'runtime', 'client', 'controller', 'agent', 'membrane', 'apiserver'],
  bench: ['api', 'registry', 'tlog', 'par', 'runtime', 'client', 'controller', 'agent', 'sandbox', 'membrane', 'apiserver'],
};
const typeOnly: Record<string, string[]> = { api: ['par', 'registry', 'agent'] };

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every relative import in a file: [specifier, type-only?]. */
function importsOf(text: string): [string, boolean][] {
  const out: [string, boolean][] = [];
  for (const m of text.matchAll(/^\s*(import|export)\s+(type\s+)?[^'";]*?\sfrom\s+'([^']+)'/gms)) out.push([m[3], !!m[2]]);
  for (const m of text.matchAll(/^\s*import\s+'([^']+)'/gm)) out.push([m[1], false]);
  for (const m of text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g)) out.push([m[1], false]);
  return out.filter(([s]) => s.startsWith('.'));
}

function violations(): string[] {
  const bad: string[] = [];
  for (const [folder, may] of Object.entries(allowed)) {
    for (const file of sources(join(root, folder))) {
      for (const [spec, isType] of importsOf(readFileSync(file, 'utf8'))) {
        const target = relative(root, resolve(dirname(file), spec)).split(/[\\/]/)[0];
        if (target === folder || may.includes(target)) continue;
        if (isType && typeOnly[folder]?.includes(target)) continue;
        bad.push(`${relative(root, file)} imports ${spec} (${folder}/ may not import ${target}/)`);
      }
    }
  }
  return bad;
}

describe('layers', () => {
  it('no source below cli/ imports from cli/, and every folder imports only from the ones below it', () => {
    expect(violations()).toEqual([]);
  });

  it('the rules hold the bottom layers to themselves and keep the controller and the agent apart', () => {
    for (const b of bottom) expect(allowed[b]).toEqual([]);
    for (const may of Object.values(allowed)) expect(may).not.toContain('cli');
    expect(allowed.controller).not.toContain('agent');
    expect(allowed.agent).not.toContain('controller');
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
