/**
 * `gantry sandbox up|down|status` refuse bad input with a usage error before touching
 * anything, and report plainly when there is nothing to act on.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gantryBin } from '../../runtime/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'gantry-sandbox-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// nothing here starts a server, so a synchronous spawn is fine
const gantry = (...args: string[]) => spawnSync(process.execPath, [gantryBin(), 'sandbox', ...args], { encoding: 'utf8', timeout: 30_000 });

describe('gantry sandbox CLI', () => {
  it('up --nodes with a bad SPEC: exit 2, says what is wrong, creates nothing', () => {
    const dir = join(tmp, 'never');
    const r = gantry('up', '--state-dir', dir, '--nodes', '3,sparc/linux:2');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--nodes "3,sparc/linux:2": unknown node arch "sparc"');
    expect(existsSync(dir)).toBe(false);
  });

  it('up --registry with an unknown kind: exit 2', () => {
    const r = gantry('up', '--state-dir', join(tmp, 'never2'), '--registry', 's3');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--registry.*s3/);
    expect(existsSync(join(tmp, 'never2'))).toBe(false);
  });

  it('up --apiserver with an unknown kind: exit 2', () => {
    const r = gantry('up', '--state-dir', join(tmp, 'never3'), '--apiserver', 'kind');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--apiserver.*kind/);
    expect(existsSync(join(tmp, 'never3'))).toBe(false);
  });

  it('up --apiserver real without the built control plane: exit 2, says how to build it, creates nothing', () => {
    const dir = join(tmp, 'never4');
    const r = spawnSync(process.execPath, [gantryBin(), 'sandbox', 'up', '--state-dir', dir, '--apiserver', 'real'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, GANTRY_CONTROL_PLANE_BIN: join(tmp, 'no-such-bin') },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `--apiserver real needs kube-apiserver and etcd in ${join(tmp, 'no-such-bin')}: build them with scripts/control-plane.sh`,
    );
    expect(existsSync(dir)).toBe(false);
  });

  it('up on a state dir it cannot read: exit 1, the file is left as it was', () => {
    const dir = join(tmp, 'corrupt');
    mkdirSync(dir);
    writeFileSync(join(dir, 'sandbox.json'), '{"version": 9}');
    const r = gantry('up', '--state-dir', dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('is not a sandbox state this version understands; remove the state dir');
    expect(readFileSync(join(dir, 'sandbox.json'), 'utf8')).toBe('{"version": 9}');
    expect(existsSync(join(dir, 'run.json'))).toBe(false);
  });

  it('status and down with no sandbox', () => {
    const dir = join(tmp, 'empty');
    const st = gantry('status', '--state-dir', dir);
    expect(st.status).toBe(0);
    expect(st.stdout).toContain(`no sandbox in ${dir}`);
    const down = gantry('down', '--state-dir', dir);
    expect(down.status).toBe(1);
    expect(down.stderr).toContain(`no sandbox is running on ${dir}`);
  });
});
