#!/usr/bin/env node
/**
 * CI's mutation gate: mutation-tests only the lines a submission changed in the safety-critical
 * files (stryker.config.mjs `mutate`), and fails if any mutant there survives or no test
 * reaches it. A whole-module run takes minutes per module here (docs/testing.md); the changed
 * lines of the few files a submission touches take one dry run plus a handful of mutants.
 *
 * The base is $GANTRY_MUTATE_BASE, else the first parent of a merge commit (CI tests merges),
 * else the merge base with origin/main or main. No base, or no changed line in those files:
 * nothing to do. A mutant judged equivalent is marked where it lives, with the reason:
 *   // Stryker disable next-line ConditionalExpression: <why no test can tell them apart>
 *
 * `--list` prints the changed ranges and stops.
 *
 * Exit: 0 all killed (or nothing to test, or the run overran its budget — said loudly, not a
 * verdict), 1 a mutant survived (listed), 2 Stryker itself failed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const budgetMs = Number(process.env.GANTRY_MUTATE_BUDGET_MS || 15 * 60_000);

const git = (...args) => {
  const r = spawnSync('git', args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};

function base() {
  if (process.env.GANTRY_MUTATE_BASE) return process.env.GANTRY_MUTATE_BASE;
  if (git('rev-parse', '-q', '--verify', 'HEAD^2')) return 'HEAD^1';
  const head = git('rev-parse', 'HEAD');
  for (const ref of ['origin/main', 'main']) {
    if (!git('rev-parse', '-q', '--verify', ref)) continue;
    const mb = git('merge-base', 'HEAD', ref);
    if (mb && mb !== head) return mb;
  }
  return undefined;
}

/** Line ranges [start, end] of the new side of `file` that changed since `from`. */
function changedRanges(from, file) {
  const diff = git('diff', '-U0', '--no-color', from, '--', file) ?? '';
  const out = [];
  for (const m of diff.matchAll(/^@@ -\S+ \+(\d+)(?:,(\d+))? @@/gm)) {
    const start = Number(m[1]);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (count > 0) out.push([start, start + count - 1]); // a pure deletion leaves no line to mutate
  }
  return out;
}

const from = base();
if (!from) {
  console.log('mutate-changed: no base commit to compare with; nothing to mutation-test');
  process.exit(0);
}
const { default: config } = await import(join(root, 'stryker.config.mjs'));
const targets = [];
for (const entry of config.mutate) {
  const [file, range] = entry.split(':');
  if (!existsSync(file)) continue;
  const [lo, hi] = range ? range.split('-').map(Number) : [1, Infinity];
  for (const [s, e] of changedRanges(from, file)) {
    const a = Math.max(s, lo);
    const b = Math.min(e, hi);
    if (a <= b) targets.push(`${file}:${a}-${b}`);
  }
}
if (targets.length === 0) {
  console.log(`mutate-changed: no safety-critical line changed since ${from}; nothing to mutation-test`);
  process.exit(0);
}
console.log(`mutate-changed: ${targets.length} changed range(s) since ${from}: ${targets.join(' ')}`);
if (process.argv.includes('--list')) process.exit(0);
const report = 'reports/mutation/changed.json';
const started = Date.now();
const r = spawnSync('npx', ['stryker', 'run', '--mutate', targets.join(','), '--incrementalFile', 'reports/mutation/changed-incremental.json', '--reporters', 'clear-text,json', '--logLevel', 'warn'], {
  stdio: 'inherit',
  timeout: budgetMs,
  killSignal: 'SIGTERM',
  env: { ...process.env, STRYKER_JSON_REPORT: report },
});
if (r.error?.code === 'ETIMEDOUT' || r.signal) {
  console.log(`mutate-changed: NOT FINISHED within ${Math.round(budgetMs / 60_000)} min — no verdict; run \`npm run mutate -- --mutate ${targets.join(',')}\` locally`);
  process.exit(0);
}
if (r.status !== 0 || !existsSync(report)) {
  console.error(`mutate-changed: stryker failed (exit ${r.status})`);
  process.exit(2);
}
const result = JSON.parse(readFileSync(report, 'utf8'));
const bad = [];
for (const [file, f] of Object.entries(result.files)) {
  for (const m of f.mutants) {
    if (m.status === 'Survived' || m.status === 'NoCoverage') bad.push(`${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} (${m.status}): ${m.replacement ?? ''}`);
  }
}
console.log(`mutate-changed: ${Math.round((Date.now() - started) / 1000)} s`);
if (bad.length) {
  console.error(`mutate-changed: ${bad.length} mutant(s) on changed safety-critical lines were not killed — add a test that fails for each, or mark a truly equivalent one with a Stryker disable comment saying why:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}
console.log('mutate-changed: every mutant on the changed lines was killed');
