/**
 * deploy/releases pins each release's commit, so the upgrade test finds v0.1.0 in a clone of main
 * that has no tags (CI's clone has none: the first try of issue 35 failed there with "no tag
 * v0.1.0"). scripts/release.sh resolves a release only through that file, and refuses a local tag
 * that names another commit, a name that is not a release, and a release it does not list.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../runtime/paths.js';

const root = packageRoot();

/** a clone of this repository's HEAD with no tags (objects shared, so it takes no time) */
function tagless(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-releases-'));
  execFileSync('git', ['clone', '-q', '--shared', '--no-tags', '--no-checkout', root, join(dir, 'repo')]);
  return join(dir, 'repo');
}

function manifests(repo: string, tag: string, out: string) {
  // the script from this tree, pointed at the clone's objects (release.sh uses its own repo)
  return spawnSync(
    'bash',
    ['-c', `cp -r "${root}/scripts" "${root}/deploy" "${repo}/" && bash "${repo}/scripts/release.sh" manifests "$1" "$2"`, '_', tag, out],
    { encoding: 'utf8' },
  );
}

describe('scripts/release.sh resolves a release through deploy/releases', () => {
  const pinned = Object.fromEntries(
    readFileSync(join(root, 'deploy/releases'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.trim().split(/\s+/)),
  );

  it('every pinned release is a commit on the first-parent history of HEAD', () => {
    expect(Object.keys(pinned)).toContain('v0.1.0');
    const firstParents = execFileSync('git', ['-C', root, 'rev-list', '--first-parent', 'HEAD'], { encoding: 'utf8' }).split('\n');
    for (const [tag, commit] of Object.entries(pinned)) expect(firstParents, tag).toContain(commit);
  });

  it('a clone without tags still gets v0.1.0 manifests; other names and a tag that disagrees are refused', () => {
    const repo = tagless();
    try {
      expect(execFileSync('git', ['-C', repo, 'tag', '-l'], { encoding: 'utf8' })).toBe('');
      const out = join(repo, '..', 'out');
      const ok = manifests(repo, 'v0.1.0', out);
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);
      expect(existsSync(join(out, 'deploy/base/kustomization.yaml'))).toBe(true);

      const unlisted = manifests(repo, 'v9.9.9', join(repo, '..', 'x'));
      expect([unlisted.status, unlisted.stderr.trim()]).toEqual([1, 'release: no release v9.9.9 in deploy/releases']);
      const branch = manifests(repo, 'main', join(repo, '..', 'x'));
      expect([branch.status, branch.stderr.trim()]).toEqual([1, "release: expected a release tag such as v0.1.0, got 'main'"]);

      // a tag moved to another commit (here: HEAD) is not silently preferred to the pin
      execFileSync('git', ['-C', repo, 'tag', 'v0.1.0', 'HEAD']);
      const head = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim();
      const moved = manifests(repo, 'v0.1.0', join(repo, '..', 'y'));
      expect([moved.status, moved.stderr.trim()]).toEqual([
        1,
        `release: tag v0.1.0 names ${head}, but deploy/releases pins ${pinned['v0.1.0']}`,
      ]);
    } finally {
      rmSync(join(repo, '..'), { recursive: true, force: true });
    }
  });
});
