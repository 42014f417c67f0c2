/**
 * The README and docs/ are checked against the code, so a renamed command, flag, npm script or
 * file breaks a test rather than a reader: every `gantry …` command they show must exist with
 * every flag it uses, every `npm run X` must be a script, and every repository path they name
 * must exist. (The walkthroughs themselves are run by the sandbox end-to-end test and the demo.)
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { gantryProgram } from '../../cli/program.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const docs = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Lines of code blocks and inline code spans, with shell line continuations joined. */
function codeOf(markdown: string): string[] {
  const out: string[] = [];
  const blocks = markdown.split(/^```/m);
  blocks.forEach((part, i) => {
    if (i % 2 === 1)
      out.push(
        ...part
          .replace(/\\\n\s*/g, ' ')
          .split('\n')
          .slice(1),
      );
    else for (const m of part.matchAll(/`([^`\n]+)`/g)) out.push(m[1]);
  });
  return out;
}

interface Use {
  doc: string;
  text: string;
}

function gantryUses(): Use[] {
  const uses: Use[] = [];
  for (const doc of docs) {
    for (const line of codeOf(readFileSync(join(root, doc), 'utf8'))) {
      // a command line: the line (or inline span) starts with it; diagrams and prose that
      // merely mention "the gantry command" are not commands
      const m = line.match(/^\s*(?:\$\s+)?(?:npx\s+)?gantry((?: [^\s│→|;&#]+)*)/);
      if (m) uses.push({ doc, text: 'gantry' + m[1] });
    }
  }
  return uses;
}

/** The command a use names (deepest matching subcommand) and the flags it passes. */
function resolve(program: Command, text: string): { command: Command; path: string[]; flags: string[]; unknown?: string } {
  const words = text.split(/\s+/).slice(1);
  let command = program;
  const path: string[] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i].replace(/[:,.]$/, '');
    if (!/^[a-z][a-z-]*$/.test(w)) break;
    const sub = command.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (!sub) {
      // a word where a subcommand was expected, on a command that has subcommands
      if (command.commands.length > 0 && path.length === 0) return { command, path, flags: [], unknown: w };
      break;
    }
    command = sub;
    path.push(w);
  }
  const flags = words
    .slice(i)
    .filter((w) => /^--?[a-zA-Z]/.test(w))
    .map((w) => w.replace(/[=[\]…,.].*$/, '').replace(/[)\]]+$/, ''));
  return { command, path, flags };
}

function knows(command: Command, flag: string): boolean {
  if (flag === '--help' || flag === '-h') return true;
  for (let c: Command | null = command; c; c = c.parent) {
    if (c.options.some((o) => o.long === flag || o.short === flag || (o.negate && o.long === flag))) return true;
  }
  return false;
}

describe('README and docs/ match the code', () => {
  const program = gantryProgram();

  it('every gantry command they show exists, with every flag it uses', () => {
    const uses = gantryUses();
    expect(uses.length).toBeGreaterThan(20);
    const wrong: string[] = [];
    for (const u of uses) {
      const r = resolve(program, u.text);
      if (r.unknown) wrong.push(`${u.doc}: "${u.text}": no command "gantry ${r.unknown}"`);
      for (const f of r.flags) if (!knows(r.command, f)) wrong.push(`${u.doc}: "${u.text}": gantry ${r.path.join(' ')} has no ${f}`);
    }
    expect(wrong).toEqual([]);
  });

  it('the check sees a renamed flag and a renamed command', () => {
    expect(resolve(program, 'gantry par create --name x --capid a:b').flags).toEqual(['--name', '--capid']);
    expect(knows(resolve(program, 'gantry par create').command, '--no-such-flag')).toBe(false);
    expect(resolve(program, 'gantry parr create').unknown).toBe('parr');
  });

  it('every `npm run X` they name is a script of package.json', () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>;
    const missing: string[] = [];
    for (const doc of docs) {
      for (const line of codeOf(readFileSync(join(root, doc), 'utf8'))) {
        for (const m of line.matchAll(/npm run ([a-z][\w:-]*)/g)) if (!(m[1] in scripts)) missing.push(`${doc}: npm run ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every repository path they name exists', () => {
    const tops = readdirSync(root).filter((f) => !f.startsWith('.') && f !== 'node_modules' && f !== 'dist');
    const generated = /^(dist|providers\/build|reports|coverage)\b/;
    const missing: string[] = [];
    for (const doc of docs) {
      const text = readFileSync(join(root, doc), 'utf8');
      const spans = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]).concat([...text.matchAll(/\]\(([^)#\s]+)\)/g)].map((m) => m[1]));
      for (const span of spans) {
        for (const word of span.split(/\s+/)) {
          const p = word.replace(/^\.\//, '').replace(/[),.:;]+$/, '');
          // files (with an extension) and folders (trailing slash); bare `a/b` words are as often
          // repository names or API paths (`examples/echo`, `providers/status`) as files
          if (p.startsWith('/') || !/\.[a-z]{1,4}$|\/$/.test(p)) continue;
          if (/https?:|[<>*{}…$]|\bN\b|XXX/.test(p) || generated.test(p)) continue;
          const base = doc.startsWith('docs/') && !tops.includes(p.split('/')[0]) ? 'docs' : '';
          const candidate = p.replace(/^\.\.\//, '');
          if (
            !p.includes('/') ||
            !(tops.includes(candidate.split('/')[0]) || (base && existsSync(join(root, base, candidate.split('/')[0]))))
          )
            continue;
          // a doc under docs/ may link next to itself (`images/x.png`) even where a top-level folder has that name too
          const beside = doc.startsWith('docs/') && existsSync(join(root, 'docs', candidate));
          if (!beside && !existsSync(join(root, base, candidate)) && !existsSync(join(root, candidate))) missing.push(`${doc}: ${p}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});
