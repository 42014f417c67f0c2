/**
 * What CI's mutation gate (scripts/mutate-changed.mjs) tests: the base a submission is compared
 * with, the lines it changed in the safety-critical files, and which of those fit the gate's
 * budget. No Stryker here, only git and arithmetic, so that test/repo/mutate-gate.test.ts can
 * check every decision against real git repositories.
 *
 * Base: $GANTRY_MUTATE_BASE, else — HEAD being a merge commit, as every submission's final
 * main commit is (`git merge --no-ff`, first parent = the previous submission) — its first
 * parent, else the merge base with origin/main or main when HEAD is off it. A base that is
 * named but missing from the clone (a shallow clone) is reported as such, never guessed.
 *
 * Budget: a whole-module run costs minutes here (docs/testing.md), and with coverage `all`
 * every mutant runs the tests related to any mutated file, so the gate mutates at most
 * `maxFiles` files and `maxLines` changed lines of code (comments, blank lines and imports hold
 * no mutant and are free), in the order the files are listed in
 * stryker.config.mjs `mutate` (most critical first); a range that does not fit is cut and
 * the rest reported as skipped, with the command that tests it.
 */
import { spawnSync } from 'node:child_process';

/** `git` in `cwd`: stdout trimmed, or undefined when it fails. */
export function gitIn(cwd) {
  return (...args) => {
    const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
}

/**
 * The commit to compare HEAD with: `{ base, why }`, or `{ base: undefined, why }` saying why
 * there is none.
 */
export function findBase(git, env = {}) {
  if (env.GANTRY_MUTATE_BASE) {
    const named = env.GANTRY_MUTATE_BASE;
    if (!git('rev-parse', '-q', '--verify', `${named}^{commit}`))
      return { base: undefined, why: `GANTRY_MUTATE_BASE=${named} is not a commit in this clone` };
    return { base: named, why: `GANTRY_MUTATE_BASE=${named}` };
  }
  const head = git('rev-parse', 'HEAD');
  if (!head) return { base: undefined, why: 'no HEAD commit' };
  // the parents as recorded in the commit itself: a shallow clone knows them without having them
  const parents = (git('cat-file', '-p', head) ?? '')
    .split('\n')
    .filter((l) => l.startsWith('parent '))
    .map((l) => l.slice(7));
  if (parents.length >= 2) {
    const first = parents[0];
    if (git('cat-file', '-e', `${first}^{commit}`) === undefined) {
      return {
        base: undefined,
        why: `HEAD ${head.slice(0, 12)} is a merge, but its first parent ${first.slice(0, 12)} is not in this clone (shallow?): fetch it (git fetch --deepen=1) or set GANTRY_MUTATE_BASE`,
      };
    }
    return { base: first, why: `HEAD ${head.slice(0, 12)} is a merge: its first parent ${first.slice(0, 12)}` };
  }
  for (const ref of ['origin/main', 'main']) {
    if (!git('rev-parse', '-q', '--verify', ref)) continue;
    const mb = git('merge-base', 'HEAD', ref);
    if (mb && mb !== head) return { base: mb, why: `the merge base ${mb.slice(0, 12)} of HEAD and ${ref}` };
  }
  return {
    base: undefined,
    why: `HEAD ${head.slice(0, 12)} is not a merge commit and not off main; set GANTRY_MUTATE_BASE to compare with a commit`,
  };
}

/**
 * Line ranges [start, end] of `file` as it is on disk (what Stryker mutates) that changed
 * since `from`.
 */
export function changedRanges(git, from, file) {
  const diff = git('diff', '-U0', '--no-color', from, '--', file) ?? '';
  const out = [];
  for (const m of diff.matchAll(/^@@ -\S+ \+(\d+)(?:,(\d+))? @@/gm)) {
    const start = Number(m[1]);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (count > 0) out.push([start, start + count - 1]); // a pure deletion leaves no line to mutate
  }
  return out;
}

/**
 * The changed ranges of the configured entries (`file` or `file:lo-hi`), in their order:
 * `[{ file, ranges: [[a, b], …] }]`, files without a changed line left out.
 */
export function changedTargets(entries, rangesOf) {
  const out = [];
  for (const entry of entries) {
    const [file, range] = entry.split(':');
    const [lo, hi] = range ? range.split('-').map(Number) : [1, Infinity];
    const ranges = [];
    for (const [s, e] of rangesOf(file)) {
      const a = Math.max(s, lo);
      const b = Math.min(e, hi);
      if (a <= b) ranges.push([a, b]);
    }
    if (ranges.length) {
      const seen = out.find((t) => t.file === file);
      if (seen) seen.ranges.push(...ranges);
      else out.push({ file, ranges });
    }
  }
  return out;
}

/**
 * The lines of a source text that can hold a mutant, as a predicate on 1-based line numbers:
 * not blank, not only a comment, not an import. A new file's doc comment should not use up
 * the budget.
 */
export function codeLines(text) {
  const code = new Set();
  let inBlock = false;
  text.split('\n').forEach((raw, i) => {
    let l = raw.trim();
    if (inBlock) {
      const end = l.indexOf('*/');
      if (end < 0) return;
      inBlock = false;
      l = l.slice(end + 2).trim();
    }
    if (l.startsWith('/*')) {
      const end = l.indexOf('*/', 2);
      if (end < 0) {
        inBlock = true;
        return;
      }
      l = l.slice(end + 2).trim();
    }
    if (l === '' || l.startsWith('//') || /^import\b/.test(l) || /^export \{[^}]*\} from /.test(l)) return;
    code.add(i + 1);
  });
  return (line) => code.has(line);
}

/**
 * Which changed lines the gate mutates within `maxFiles` files and `maxLines` lines of code
 * (`isCode(file)(line)`; every line by default), in the targets' order: `{ selected, skipped }`,
 * each `[{ file, ranges }]`; a skipped entry also says `why`. A range cut by the line budget
 * ends at its last code line that fits.
 */
export function planWithinBudget(targets, { maxFiles, maxLines }, isCode = () => () => true) {
  const selected = [];
  const skipped = [];
  let left = maxLines;
  for (const t of targets) {
    if (selected.length >= maxFiles) {
      skipped.push({ ...t, why: `over the ${maxFiles}-file budget` });
      continue;
    }
    const code = isCode(t.file);
    const take = [];
    const rest = [];
    for (const [a, b] of t.ranges) {
      let last = a - 1; // the last line taken
      for (let l = a; l <= b; l++) {
        if (code(l)) {
          if (left === 0) break;
          left--;
        }
        last = l;
      }
      // a range with no code line taken adds nothing to mutate
      if (countLines([[a, last]], code) > 0) take.push([a, last]);
      else last = a - 1;
      if (last < b && countLines([[last + 1, b]], code) > 0) rest.push([last + 1, b]);
    }
    if (take.length) selected.push({ file: t.file, ranges: take });
    if (rest.length) skipped.push({ file: t.file, ranges: rest, why: `over the ${maxLines}-line budget` });
  }
  return { selected, skipped };
}

/** Stryker's `--mutate` spelling of targets: `file:a-b,file:c-d`. */
export function mutateArg(targets) {
  return targets.flatMap((t) => t.ranges.map(([a, b]) => `${t.file}:${a}-${b}`)).join(',');
}

/** How many of `ranges`' lines hold code (`code(line)`; all by default). */
export function countLines(ranges, code = () => true) {
  let n = 0;
  for (const [a, b] of ranges) for (let l = a; l <= b; l++) if (code(l)) n++;
  return n;
}
