/**
 * A clone of Gantry must run on its own: a user who clones the repository has no steering
 * workspace beside it. These tests fail when a file reaches outside the repository for data,
 * or when the copied conformance vectors drift from the checksums they were copied with.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const conformance = join(root, 'test', 'conformance');

/** Code folders: everything that runs (sources, tests, scripts, benchmarks, the C providers). */
const codeRoots = [
  'api',
  'agent',
  'bench',
  'bin',
  'cli',
  'client',
  'controller',
  'par',
  'providers',
  'registry',
  'runtime',
  'sandbox',
  'scripts',
  'test',
  'tlog',
  '.ci',
];
const codeFile = /\.(ts|mts|js|mjs|cjs|sh|c|h|rs|go|json|ya?ml)$|(^|\/)(Makefile|run)$/;

function walk(dir: string, out: string[] = []): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    if (name === 'node_modules' || name === 'build' || name === 'target') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

describe('the repository stands on its own', () => {
  it('no code, test, script or benchmark refers to the steering workspace beside the clone', () => {
    // built from parts so this file does not match itself
    const outside = new RegExp(['\\.\\.', 'shared'].join('[/\\\\\'", ]+'));
    const offenders = codeRoots
      .flatMap((r) => walk(join(root, r)))
      .filter((p) => !p.startsWith(conformance + '/')) // the copied data quotes its own origin
      .filter((p) => codeFile.test(p))
      .filter((p) => outside.test(readFileSync(p, 'utf8')))
      .map((p) => relative(root, p));
    expect(offenders).toEqual([]);
  });

  it('the guard above does catch such a reference', () => {
    const outside = new RegExp(['\\.\\.', 'shared'].join('[/\\\\\'", ]+'));
    const up = '..',
      ws = 'shared';
    expect(outside.test(`join(packageRoot(), '${up}', '${ws}', 'conformance')`)).toBe(true);
    expect(outside.test(`readFileSync('${up}/${ws}/conformance/x')`)).toBe(true);
    expect(outside.test(`the shared work queue`)).toBe(false);
  });

  it('the conformance copies are byte-for-byte what SHA256SUMS lists, and nothing is unlisted', () => {
    const listed = new Map(
      readFileSync(join(conformance, 'SHA256SUMS'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => {
          const [sum, path] = line.split(/\s+\*?/);
          return [path.replace(/^\.\//, ''), sum] as const;
        }),
    );
    expect(listed.size).toBeGreaterThan(30);
    const present = walk(conformance)
      .map((p) => relative(conformance, p))
      .filter((p) => p !== 'SHA256SUMS' && p !== 'SOURCES.md')
      .sort();
    expect(present).toEqual([...listed.keys()].sort());
    const mismatched = present.filter(
      (p) =>
        createHash('sha256')
          .update(readFileSync(join(conformance, p)))
          .digest('hex') !== listed.get(p),
    );
    expect(mismatched).toEqual([]);
  });
});
