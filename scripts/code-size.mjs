#!/usr/bin/env node
/**
 * Sizes that keep the code legible (docs/architecture.md): source files over MAX_FILE lines and
 * functions over MAX_FUNCTION lines, outside tests. A function is found from its opening line as
 * Biome formats it (`function f(`, `async m(`, `const f = (…) => {`, a method) to the line
 * where its braces close; strings and comments are skipped when counting braces.
 *
 *   node scripts/code-size.mjs [--json] [--max-file 400] [--max-function 80] [DIR…]
 * A data table may be longer: a comment `// code-size: data table` on the line above its first
 * line exempts that one function.
 * Exit 1 when anything is over, naming it.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  args.splice(i, 2);
  return v;
};
const json = args.includes('--json');
if (json) args.splice(args.indexOf('--json'), 1);
const maxFile = opt('--max-file', 400);
const maxFunction = opt('--max-function', 80);
const root = process.cwd();
// providers/ (top level) holds the C, Rust and Go providers and SDKs, not Gantry's TypeScript
const skip = new Set(['node_modules', 'dist', 'test', '.git', '.stryker-tmp', 'reports', 'target']);
const skipTop = new Set([...skip, 'providers']);
const dirs = args.length ? args : readdirSync(root).filter((d) => !skipTop.has(d) && !d.startsWith('.') && statSync(d).isDirectory());

function* sources(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (!skip.has(name)) yield* sources(p);
    } else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) yield p;
  }
}

// The first line of a function: a declaration, an arrow assigned to a name, or a method (its
// signature may go on over several lines, as Biome breaks long ones).
const opener =
  /^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?function\s*\*?\s*([\w$]+)\s*[<(]|^\s*(?:export\s+)?(?:const|let)\s+([\w$]+)\s*(?::[^=]+)?=\s*(?:async\s+)?(?:\(|[\w$]+\s*=>)|^\s*(?:(?:public|private|protected|static|override|async|get|set)\s+)*\*?([\w$]+)\s*(?:<[^>]*>)?\(/;
const keywords = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'function', 'constructor']);

/** Brace depth change of a line, ignoring strings, template text and comments (good enough for formatted code). */
function braces(line, state) {
  let d = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (state.block) {
      if (c === '*' && line[i + 1] === '/') {
        state.block = false;
        i++;
      }
      continue;
    }
    if (state.quote) {
      if (c === '\\') i++;
      else if (c === state.quote) state.quote = undefined;
      continue;
    }
    if (c === '/' && line[i + 1] === '/') break;
    if (c === '/' && line[i + 1] === '*') {
      state.block = true;
      i++;
    } else if (c === "'" || c === '"' || c === '`') state.quote = c;
    else if (c === '{') d++;
    else if (c === '}') d--;
  }
  if (state.quote && state.quote !== '`') state.quote = undefined;
  return d;
}

const files = [];
const functions = [];
for (const dir of dirs)
  for (const file of sources(dir)) {
    const lines = readFileSync(file, 'utf8').split('\n');
    const rel = relative(root, file);
    files.push({ file: rel, lines: lines.length });
    for (let i = 0; i < lines.length; i++) {
      const m = opener.exec(lines[i]);
      const name = m && (m[1] || m[2] || m[3]);
      if (!name || (keywords.has(name) && name !== 'constructor')) continue;
      // the signature ends at the first line ending with `{` (the body opens); a `;` first means a call
      let body = -1;
      for (let k = i; k < Math.min(lines.length, i + 20); k++) {
        const t = lines[k].replace(/\/\/.*$/, '').trimEnd();
        if (t.endsWith('{')) {
          body = k;
          break;
        }
        if (t.endsWith(';') || (k > i && /^\s*(?:[\w$]+\s*\(|\}\s*$)/.test(t) && !/^\s*[\w$]+\??:/.test(t) && !t.endsWith(','))) break;
      }
      if (body < 0) continue;
      const state = {};
      let depth = 0;
      for (let k = i; k < body; k++) braces(lines[k], state);
      let j = body;
      for (; j < lines.length; j++) {
        depth += braces(lines[j], state);
        if (depth <= 0) break;
      }
      const n = j - i + 1;
      const table = i > 0 && lines[i - 1].includes('code-size: data table');
      functions.push({ file: rel, line: i + 1, name, lines: n, table });
    }
  }

const bigFiles = files.filter((f) => f.lines > maxFile).sort((a, b) => b.lines - a.lines);
const bigFunctions = functions.filter((f) => f.lines > maxFunction && !f.table).sort((a, b) => b.lines - a.lines);
if (json) {
  console.log(JSON.stringify({ maxFile, maxFunction, files: files.length, functions: functions.length, bigFiles, bigFunctions }, null, 2));
} else {
  console.log(`${files.length} source files, ${functions.length} functions`);
  console.log(`files over ${maxFile} lines: ${bigFiles.length}`);
  for (const f of bigFiles) console.log(`  ${f.lines}\t${f.file}`);
  console.log(`functions over ${maxFunction} lines: ${bigFunctions.length}`);
  for (const f of bigFunctions) console.log(`  ${f.lines}\t${f.file}:${f.line} ${f.name}`);
}
process.exit(bigFiles.length || bigFunctions.length ? 1 : 0);
