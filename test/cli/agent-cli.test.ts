/** `gantry agent` usage errors that must stop it before it touches a cluster. */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gantryBin } from '../../runtime/paths.js';

const agent = (...args: string[]) => spawnSync(process.execPath, [gantryBin(), 'agent', ...args], { encoding: 'utf8', timeout: 20_000 });

describe('gantry agent usage', () => {
  it('refuses half a mutual-TLS pair with exit 2', () => {
    const r = agent('--node', 'n1', '--nats', 'tls://127.0.0.1:1', '--nats-cert', '/nonexistent/cert.pem');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--nats-cert and --nats-key go together/);
  });

  it('lists the NATS TLS options in --help', () => {
    const r = agent('--help');
    expect(r.status).toBe(0);
    for (const flag of ['--nats-ca', '--nats-cert', '--nats-key', '--nats-creds', '--nats-nkey', '--nats-token'])
      expect(r.stdout).toContain(flag);
  });

  describe('cache directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'gantry-agent-cachedir-'));
    afterAll(() => rmSync(root, { recursive: true, force: true }));
    // a kubeconfig that parses; the agent must refuse before it ever dials it
    const kubeconfig = join(root, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: c',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: c, context: {cluster: c, user: u}}]',
        '',
      ].join('\n'),
    );
    const start = (cacheDir: string) =>
      agent('--kubeconfig', kubeconfig, '--node', 'n1', '--nats', 'nats://127.0.0.1:1', '--cache-dir', cacheDir);

    it('refuses a --max-instances that is not a whole number from 1 to 10000 (exit 2), before it creates anything', () => {
      for (const [bad, why] of [
        ['2x', /--max-instances must be a whole number, not "2x"/],
        ['1e3', /--max-instances must be a whole number, not "1e3"/],
        ['-1', /--max-instances must be a whole number, not "-1"/],
        ['0', /--max-instances must be a whole number from 1 to 10000, not "0"/],
        ['10001', /--max-instances must be a whole number from 1 to 10000, not "10001"/],
      ] as const) {
        const dir = join(root, `cap-${bad}`);
        const r = agent(
          '--kubeconfig',
          kubeconfig,
          '--node',
          'n1',
          '--nats',
          'nats://127.0.0.1:1',
          '--cache-dir',
          dir,
          '--max-instances',
          bad,
        );
        expect([bad, r.status]).toEqual([bad, 2]);
        expect(r.stderr).toMatch(why);
        expect(existsSync(dir)).toBe(false);
      }
    });

    it('refuses a --load-report-interval that is not a duration (exit 2), before it creates anything', () => {
      for (const bad of ['soon', '-1s', '1 s']) {
        const dir = join(root, `load-${bad}`);
        const r = agent(
          '--kubeconfig',
          kubeconfig,
          '--node',
          'n1',
          '--nats',
          'nats://127.0.0.1:1',
          '--cache-dir',
          dir,
          '--load-report-interval',
          bad,
        );
        expect([bad, r.status]).toEqual([bad, 2]);
        expect(r.stderr).toContain(`--load-report-interval ${JSON.stringify(bad)}: expected a duration such as 1500ms`);
        expect(existsSync(dir)).toBe(false);
      }
      expect(agent('--help').stdout).toMatch(/--load-report-interval <duration>\s+how often each provider host/);
    });

    it('lists --max-instances in --help', () => {
      expect(agent('--help').stdout).toMatch(/--max-instances <n> +run at most N instances/);
    });

    it('refuses a cache directory writable by group or others (CACHE_DIR_UNSAFE, exit 2) and reads nothing from it', () => {
      const dir = join(root, 'open');
      mkdirSync(dir);
      chmodSync(dir, 0o777);
      const r = start(dir);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/CACHE_DIR_UNSAFE/);
      expect(r.stderr).toMatch(/writable by group and others .*chmod 700/);
      expect(existsSync(join(dir, 'hosts'))).toBe(false);
    });

    it('refuses a cache subdirectory writable by others', () => {
      const dir = join(root, 'sub');
      mkdirSync(join(dir, 'binaries'), { recursive: true, mode: 0o700 });
      chmodSync(dir, 0o700);
      chmodSync(join(dir, 'binaries'), 0o703);
      const r = start(dir);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/binaries is writable by others.*CACHE_DIR_UNSAFE/);
    });

    it('refuses a cache directory owned by another user (CACHE_DIR_UNSAFE, exit 2)', () => {
      let dir: string;
      if (process.getuid!() === 0) {
        dir = join(root, 'foreign');
        mkdirSync(dir, { mode: 0o700 });
        chownSync(dir, 65534, 65534);
      } else {
        dir = '/usr'; // root's, and not writable by us: a directory of someone else
      }
      const r = start(dir);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/is owned by uid \d+, not by this agent's uid .*CACHE_DIR_UNSAFE/);
    });
  });
});
