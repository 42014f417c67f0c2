/**
 * CI's mutation gate (scripts/mutate-changed.mjs, docs/testing.md) decides from git what a
 * submission changed and how much of it fits its budget. These tests build real repositories
 * shaped like Gantry's history — every submission lands on main as a `--no-ff` merge whose
 * first parent is the previous submission — and check that decision, and the gate's own
 * output, without running Stryker.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { changedRanges, changedTargets, codeLines, findBase, gitIn, mutateArg, planWithinBudget } from '../../scripts/mutate-plan.mjs';

const root = fileURLToPath(new URL('../..', import.meta.url));
let work: string;

const gitEnv = {
  ...process.env,
  GIT_AUTHOR_NAME: 't',
  GIT_AUTHOR_EMAIL: 't@example.invalid',
  GIT_COMMITTER_NAME: 't',
  GIT_COMMITTER_EMAIL: 't@example.invalid',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: tmpdir(),
};
function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: gitEnv, encoding: 'utf8' }).trim();
}
function write(repo: string, file: string, text: string): void {
  mkdirSync(dirname(join(repo, file)), { recursive: true });
  writeFileSync(join(repo, file), text);
}
const numbered = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `export const v${from + i} = ${from + i};`).join('\n') + '\n';

/** main: "base" (a file of 10 lines), then a submission merged --no-ff that changes lines 3-4. */
function mainWithMergedSubmission(name: string): { repo: string; previous: string } {
  const repo = join(work, name);
  mkdirSync(repo);
  sh(repo, 'init', '-q', '-b', 'main');
  write(repo, 'runtime/toolkit/leader.ts', numbered(10));
  sh(repo, 'add', '.');
  sh(repo, 'commit', '-q', '-m', 'previous submission');
  const previous = sh(repo, 'rev-parse', 'HEAD');
  sh(repo, 'checkout', '-q', '-b', 'issue-1');
  const lines = numbered(10).split('\n');
  lines[2] = 'export const v3 = 33;';
  lines[3] = 'export const v4 = 44;';
  write(repo, 'runtime/toolkit/leader.ts', lines.join('\n'));
  sh(repo, 'commit', '-q', '-am', 'change 3-4');
  sh(repo, 'checkout', '-q', 'main');
  sh(repo, 'merge', '-q', '--no-ff', '-m', 'Merge issue-1', 'issue-1');
  return { repo, previous };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'gantry-mutate-gate-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the gate compares a submission with the right base', () => {
  it("a fresh clone of main whose HEAD is a --no-ff merge is compared with its first parent, and sees only the submission's lines", () => {
    const { repo, previous } = mainWithMergedSubmission('merged');
    const clone = join(work, 'merged-clone');
    sh(work, 'clone', '-q', repo, clone);
    const git = gitIn(clone);
    const { base, why } = findBase(git, {});
    expect(base).toBe(previous);
    expect(why).toMatch(/is a merge: its first parent/);
    expect(changedRanges(git, base!, 'runtime/toolkit/leader.ts')).toEqual([[3, 4]]);
  });

  it('a HEAD on main that is not a merge has no base, and says so', () => {
    const repo = join(work, 'linear');
    mkdirSync(repo);
    sh(repo, 'init', '-q', '-b', 'main');
    write(repo, 'a.ts', 'export const a = 1;\n');
    sh(repo, 'add', '.');
    sh(repo, 'commit', '-q', '-m', 'one');
    write(repo, 'a.ts', 'export const a = 2;\n');
    sh(repo, 'commit', '-q', '-am', 'two');
    const { base, why } = findBase(gitIn(repo), {});
    expect(base).toBeUndefined();
    expect(why).toMatch(/not a merge commit and not off main; set GANTRY_MUTATE_BASE/);
  });

  it('a branch off main (a submission before its merge) is compared with the merge base', () => {
    const { repo, previous } = mainWithMergedSubmission('branch');
    sh(repo, 'checkout', '-q', '-b', 'issue-2', previous);
    write(repo, 'runtime/toolkit/leader.ts', numbered(12));
    sh(repo, 'commit', '-q', '-am', 'two more lines');
    const git = gitIn(repo);
    const { base } = findBase(git, {});
    expect(base).toBe(previous);
    expect(changedRanges(git, base!, 'runtime/toolkit/leader.ts')).toEqual([[11, 12]]);
  });

  it('a shallow clone that lacks the first parent is reported, not guessed', () => {
    const { repo } = mainWithMergedSubmission('shallow');
    const clone = join(work, 'shallow-clone');
    sh(work, 'clone', '-q', '--depth', '1', `file://${repo}`, clone);
    const { base, why } = findBase(gitIn(clone), {});
    expect(base).toBeUndefined();
    expect(why).toMatch(/first parent [0-9a-f]{12} is not in this clone \(shallow\?\)/);
  });

  it('GANTRY_MUTATE_BASE wins, and a name that is no commit is refused', () => {
    const { repo } = mainWithMergedSubmission('named');
    const git = gitIn(repo);
    expect(findBase(git, { GANTRY_MUTATE_BASE: 'HEAD^2' }).base).toBe('HEAD^2');
    const missing = findBase(git, { GANTRY_MUTATE_BASE: 'no-such-ref' });
    expect(missing.base).toBeUndefined();
    expect(missing.why).toMatch(/no-such-ref is not a commit/);
  });

  it('a pure deletion leaves no line to mutate; uncommitted edits count, at their on-disk lines', () => {
    const { repo, previous } = mainWithMergedSubmission('deletion');
    const lines = readFileSync(join(repo, 'runtime/toolkit/leader.ts'), 'utf8').split('\n');
    lines.splice(5, 2); // lines 6-7 gone, not committed
    write(repo, 'runtime/toolkit/leader.ts', lines.join('\n'));
    const git = gitIn(repo);
    // against HEAD: only the deletion, nothing to mutate
    expect(changedRanges(git, 'HEAD', 'runtime/toolkit/leader.ts')).toEqual([]);
    // against the previous submission: the merged change, still at lines 3-4
    expect(changedRanges(git, previous, 'runtime/toolkit/leader.ts')).toEqual([[3, 4]]);
  });
});

describe('the gate keeps to its budget and says what it skipped', () => {
  it('only configured files, and only inside a configured line range', () => {
    const ranges: Record<string, [number, number][]> = {
      'a.ts': [[1, 5]],
      'b.ts': [
        [110, 125],
        [200, 210],
      ],
      'c.ts': [[1, 2]],
    };
    const targets = changedTargets(['a.ts', 'b.ts:118-137'], (f) => ranges[f] ?? []);
    expect(targets).toEqual([
      { file: 'a.ts', ranges: [[1, 5]] },
      { file: 'b.ts', ranges: [[118, 125]] },
    ]);
  });

  it('files are taken in the configured order up to the file cap; the rest is skipped with the reason', () => {
    const targets = ['a.ts', 'b.ts', 'c.ts', 'd.ts'].map((file) => ({ file, ranges: [[1, 2]] as [number, number][] }));
    const { selected, skipped } = planWithinBudget(targets, { maxFiles: 2, maxLines: 100 });
    expect(selected.map((t) => t.file)).toEqual(['a.ts', 'b.ts']);
    expect(skipped).toEqual([
      { file: 'c.ts', ranges: [[1, 2]], why: 'over the 2-file budget' },
      { file: 'd.ts', ranges: [[1, 2]], why: 'over the 2-file budget' },
    ]);
  });

  it('the line budget cuts a range where it runs out, and counts only lines that can hold a mutant', () => {
    const text = [
      '/**',
      ' * a doc comment',
      ' */',
      "import { x } from './x.js';",
      '',
      'export const a = 1;',
      '// a note',
      'export const b = 2;',
      'export const c = 3;',
      'export const d = 4;',
    ].join('\n');
    const code = codeLines(text);
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter(code)).toEqual([6, 8, 9, 10]);
    const targets = [
      { file: 'a.ts', ranges: [[1, 10]] as [number, number][] },
      { file: 'b.ts', ranges: [[1, 10]] as [number, number][] },
    ];
    const { selected, skipped } = planWithinBudget(targets, { maxFiles: 5, maxLines: 3 }, () => code);
    // three code lines (6, 8, 9) fit; the doc comment and the import were free
    expect(selected).toEqual([{ file: 'a.ts', ranges: [[1, 9]] }]);
    expect(skipped).toEqual([
      { file: 'a.ts', ranges: [[10, 10]], why: 'over the 3-line budget' },
      { file: 'b.ts', ranges: [[1, 10]], why: 'over the 3-line budget' },
    ]);
    expect(mutateArg(skipped)).toBe('a.ts:10-10,b.ts:1-10');
  });

  it('a changed range of comments only is neither mutated nor reported as skipped', () => {
    const code = codeLines(['// one', '// two', 'export const a = 1;'].join('\n'));
    const { selected, skipped } = planWithinBudget([{ file: 'a.ts', ranges: [[1, 2]] }], { maxFiles: 3, maxLines: 10 }, () => code);
    expect(selected).toEqual([]);
    expect(skipped).toEqual([]);
  });
});

describe('scripts/mutate-changed.mjs --list', () => {
  /** A repository with the gate's scripts and the real stryker.config.mjs, and two configured files changed in its last commit. */
  function gateRepo(name: string): string {
    const repo = join(work, name);
    mkdirSync(repo);
    sh(repo, 'init', '-q', '-b', 'main');
    for (const f of ['scripts/mutate-changed.mjs', 'scripts/mutate-plan.mjs', 'stryker.config.mjs'])
      write(repo, f, readFileSync(join(root, f), 'utf8'));
    write(repo, 'runtime/toolkit/leader.ts', '');
    write(repo, 'controller/providers/instance-index.ts', '');
    sh(repo, 'add', '.');
    sh(repo, 'commit', '-q', '-m', 'base');
    write(repo, 'runtime/toolkit/leader.ts', '/** doc */\n' + numbered(20));
    write(repo, 'controller/providers/instance-index.ts', numbered(5));
    sh(repo, 'commit', '-q', '-am', 'change');
    return repo;
  }
  const gate = (repo: string, env: Record<string, string>) =>
    spawnSync(process.execPath, ['scripts/mutate-changed.mjs', '--list'], { cwd: repo, encoding: 'utf8', env: { ...process.env, ...env } });

  it('prints its base and plan, and lists loudly what the budget leaves out, with the command that tests it', () => {
    const r = gate(gateRepo('gate-list'), { GANTRY_MUTATE_BASE: 'HEAD~1', GANTRY_MUTATE_MAX_FILES: '1', GANTRY_MUTATE_MAX_LINES: '10' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch('base GANTRY_MUTATE_BASE=HEAD~1');
    expect(r.stdout).toMatch('mutating 10 changed line(s) of code: runtime/toolkit/leader.ts:1-11');
    expect(r.stdout).toMatch('NOT MUTATION-TESTED');
    expect(r.stdout).toMatch('runtime/toolkit/leader.ts:12-21 — over the 10-line budget');
    expect(r.stdout).toMatch('controller/providers/instance-index.ts:1-5 — over the 1-file budget');
    expect(r.stdout).toMatch(
      'test them locally: npm run mutate -- --mutate runtime/toolkit/leader.ts:12-21,controller/providers/instance-index.ts:1-5',
    );
  });

  it('with no base (a HEAD on main that is no merge) tests nothing and says why', () => {
    const r = gate(gateRepo('gate-nobase'), {});
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/no base commit to compare with \(HEAD [0-9a-f]{12} is not a merge commit/);
  });

  it('exits 2 when the named base does not exist', () => {
    const r = gate(gateRepo('gate-badbase'), { GANTRY_MUTATE_BASE: 'no-such-ref' });
    expect(r.status).toBe(2);
    expect(r.stdout).toMatch(/GANTRY_MUTATE_BASE=no-such-ref is not a commit/);
  });
});
