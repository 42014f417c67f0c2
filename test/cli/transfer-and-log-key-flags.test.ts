/**
 * The controller's and the agent's registry transfer limits and the controller's origin-bound
 * log keys: bad values are usage errors (exit 2) naming the flag, before anything is dialled.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gantryBin } from '../../runtime/paths.js';
import { generateNoteKey } from '../../tlog/index.js';

const gantry = (...args: string[]) => spawnSync(process.execPath, [gantryBin(), ...args], { encoding: 'utf8', timeout: 20_000 });
const root = mkdtempSync(join(tmpdir(), 'gantry-flags-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
// a kubeconfig that parses and points nowhere: the refusals must come before it is dialled
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

describe('registry transfer limits', () => {
  it('the controller and the agent list them in --help and refuse bad values with exit 2, naming the flag', () => {
    for (const cmd of ['controller', 'agent']) {
      const help = gantry(cmd, '--help');
      for (const flag of ['--registry-deadline', '--registry-min-rate', '--registry-rate-window']) expect(help.stdout).toContain(flag);
    }
    const ctl = gantry('controller', '--kubeconfig', kubeconfig, '--registry-deadline', 'soon');
    expect(ctl.status).toBe(2);
    expect(ctl.stderr).toMatch(/--registry-deadline "soon": expected a positive duration/);
    const agent = gantry(
      'agent',
      '--kubeconfig',
      kubeconfig,
      '--node',
      'n1',
      '--nats',
      'nats://127.0.0.1:1',
      '--registry-rate-window',
      '0s',
    );
    expect(agent.status).toBe(2);
    expect(agent.stderr).toMatch(/--registry-rate-window "0s": expected a positive duration/);
    const rate = gantry('agent', '--kubeconfig', kubeconfig, '--node', 'n1', '--nats', 'nats://127.0.0.1:1', '--registry-min-rate', '-5');
    expect(rate.status).toBe(2);
    expect(rate.stderr).toMatch(/--registry-min-rate "-5"/);
  });
});

describe('the controller --log-key', () => {
  it('refuses an origin prefix that is not HOST[/PATH] and a key that does not parse, with exit 2', () => {
    const { verifierKey } = generateNoteKey('registry.example.com/team');
    const bad = gantry('controller', '--kubeconfig', kubeconfig, '--log-key', `/team/=${verifierKey}`);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--log-key: trusted log key .*the origin prefix "\/team\/" must be HOST\[\/PATH\]/);
    const garbled = gantry('controller', '--kubeconfig', kubeconfig, '--log-key', 'registry.example.com/=nope');
    expect(garbled.status).toBe(2);
    expect(garbled.stderr).toMatch(/--log-key: verifier key "nope"/);
  });
});
