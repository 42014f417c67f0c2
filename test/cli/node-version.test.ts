/**
 * `gantry` on a Node.js older than 24 says what to do instead of failing deep inside the
 * Kubernetes client (undici 8 does not load on Node 20). The machines' system Node is 20
 * (Debian's package); where the system Node is new enough there is no old one to try.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';

function systemNode(): { path: string; major: number } | undefined {
  for (const path of ['/usr/bin/node', '/usr/local/bin/node']) {
    try {
      const v = execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
      return { path, major: Number(v.split('.')[0]) };
    } catch {}
  }
  return undefined;
}

const old = systemNode();
const gantry = join(packageRoot(), 'bin', 'gantry.js');

describe('the gantry command on an old Node.js', () => {
  it.runIf(old && old.major < 24)('refuses with exit 2, naming the version it needs and how to get it', () => {
    const r = spawnSync(old!.path, [gantry, 'version'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^gantry: Node\.js 2\d\.\d+\.\d+ is too old; Gantry needs Node 24 or newer/);
    expect(r.stderr).toContain('scripts/node.sh exec npx gantry');
  });

  it('runs on the Node the tests run on (24 or newer)', () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    const r = spawnSync(process.execPath, [gantry, 'version', '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ version: expect.any(String) });
  });
});
