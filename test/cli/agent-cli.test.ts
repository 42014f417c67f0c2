/** `gantry agent` usage errors that must stop it before it touches a cluster. */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
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
    for (const flag of ['--nats-ca', '--nats-cert', '--nats-key', '--nats-creds', '--nats-nkey', '--nats-token']) expect(r.stdout).toContain(flag);
  });
});
