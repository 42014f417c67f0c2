#!/usr/bin/env node
/**
 * CI's mutation gate: mutation-tests only the lines a submission changed in the safety-critical
 * files (stryker.config.mjs `mutate`), and fails if any mutant there survives or no test
 * reaches it. A whole-module run takes minutes per module here (docs/testing.md); the changed
 * lines of the few files a submission touches take one dry run plus a handful of mutants.
 *
 * The base (scripts/mutate-plan.mjs): $GANTRY_MUTATE_BASE, else the first parent of a merge
 * commit (every submission lands on main as a --no-ff merge whose first parent is the previous
 * submission), else the merge base with origin/main or main. No base, or no changed line in
 * those files: nothing to do, said with the reason.
 *
 * Budget: at most $GANTRY_MUTATE_MAX_FILES files (default 3) and $GANTRY_MUTATE_MAX_LINES
 * changed lines of code (default 80, about 150 mutants: 5–15 min here; comments, blank lines and
 * imports are free), taken in the order of `mutate` (most critical first); what does
 * not fit is listed as NOT MUTATION-TESTED with the command that tests it, and the run is
 * stopped after $GANTRY_MUTATE_BUDGET_MS (default 15 min). Skipped lines and an overrun are
 * not a verdict on the submission, so they exit 0 — unless GANTRY_MUTATE_STRICT=1.
 *
 * A mutant judged equivalent is marked where it lives, with the reason:
 *   // Stryker disable next-line ConditionalExpression: <why no test can tell them apart>
 *
 * `--list` prints the plan and stops.
 *
 * Exit: 0 all killed (or nothing to test, or skipped/overran without GANTRY_MUTATE_STRICT),
 * 1 a mutant survived (listed), 2 Stryker itself failed or the named base does not exist,
 * 3 skipped or overran with GANTRY_MUTATE_STRICT=1.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changedRanges, changedTargets, codeLines, countLines, findBase, gitIn, mutateArg, planWithinBudget } from './mutate-plan.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const env = process.env;
const budgetMs = Number(env.GANTRY_MUTATE_BUDGET_MS || 15 * 60_000);
const maxFiles = Number(env.GANTRY_MUTATE_MAX_FILES || 3);
const maxLines = Number(env.GANTRY_MUTATE_MAX_LINES || 80);
const strict = env.GANTRY_MUTATE_STRICT === '1';
const git = gitIn(root);

const { base, why } = findBase(git, env);
if (!base) {
  console.log(`mutate-changed: no base commit to compare with (${why}); nothing to mutation-test`);
  process.exit(env.GANTRY_MUTATE_BASE ? 2 : 0);
}
const { default: config } = await import(join(root, 'stryker.config.mjs'));
const targets = changedTargets(
  config.mutate.filter((e) => existsSync(e.split(':')[0])),
  (file) => changedRanges(git, base, file),
);
if (targets.length === 0) {
  console.log(`mutate-changed: base ${why}; no safety-critical line changed; nothing to mutation-test`);
  process.exit(0);
}
const isCode = (file) => codeLines(readFileSync(file, 'utf8'));
const { selected, skipped } = planWithinBudget(targets, { maxFiles, maxLines }, isCode);
const show = (ts) => ts.map((t) => `${t.file}:${t.ranges.map(([a, b]) => `${a}-${b}`).join(',')}`).join(' ');
console.log(`mutate-changed: base ${why}`);
console.log(
  `mutate-changed: mutating ${selected.reduce((n, t) => n + countLines(t.ranges, isCode(t.file)), 0)} changed line(s) of code: ${show(selected)}`,
);
const skipNotice = () => {
  if (!skipped.length) return;
  console.log(
    `mutate-changed: NOT MUTATION-TESTED (over the budget of ${maxFiles} files / ${maxLines} lines; GANTRY_MUTATE_MAX_FILES, GANTRY_MUTATE_MAX_LINES):`,
  );
  for (const s of skipped) console.log(`  ${show([s])} — ${s.why}`);
  console.log(`  test them locally: npm run mutate -- --mutate ${mutateArg(skipped)}`);
};
skipNotice();
if (process.argv.includes('--list')) process.exit(0);

const report = 'reports/mutation/changed.json';
const started = Date.now();
const r = spawnSync(
  'npx',
  [
    'stryker',
    'run',
    '--mutate',
    mutateArg(selected),
    '--incrementalFile',
    'reports/mutation/changed-incremental.json',
    '--reporters',
    'clear-text,json',
    '--logLevel',
    'warn',
  ],
  {
    stdio: 'inherit',
    timeout: budgetMs,
    killSignal: 'SIGTERM',
    env: { ...env, STRYKER_JSON_REPORT: report },
  },
);
if (r.error?.code === 'ETIMEDOUT' || r.signal) {
  console.log(
    `mutate-changed: NOT FINISHED within ${Math.round(budgetMs / 60_000)} min (GANTRY_MUTATE_BUDGET_MS) — no verdict; run \`npm run mutate -- --mutate ${mutateArg(selected)}\` locally`,
  );
  process.exit(strict ? 3 : 0);
}
if (r.status !== 0 || !existsSync(report)) {
  console.error(`mutate-changed: stryker failed (exit ${r.status})`);
  process.exit(2);
}
const result = JSON.parse(readFileSync(report, 'utf8'));
const bad = [];
let total = 0;
for (const [file, f] of Object.entries(result.files)) {
  for (const m of f.mutants) {
    total++;
    if (m.status === 'Survived' || m.status === 'NoCoverage')
      bad.push(`${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} (${m.status}): ${m.replacement ?? ''}`);
  }
}
console.log(`mutate-changed: ${total} mutant(s) in ${Math.round((Date.now() - started) / 1000)} s`);
if (bad.length) {
  console.error(
    `mutate-changed: ${bad.length} mutant(s) on changed safety-critical lines were not killed — add a test that fails for each, or mark a truly equivalent one with a Stryker disable comment saying why:\n  ${bad.join('\n  ')}`,
  );
  skipNotice();
  process.exit(1);
}
console.log('mutate-changed: every mutant on the mutated lines was killed');
skipNotice();
process.exit(skipped.length && strict ? 3 : 0);
