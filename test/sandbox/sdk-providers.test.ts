/**
 * The Rust and Go example providers run in the sandbox exactly as a provider author would ship
 * them: `gantry par create` signs providers/build/keyvalue-rs.so and echo-go.so with the
 * sandbox's dev issuer, `gantry par push` publishes them to its registry, `kubectl apply`
 * creates the Providers, the agents load them, and `gantry call` gets their answers.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { hostTarget } from '../../agent/target.js';
import { findBinary } from '../support/binaries.js';

const dir = mkdtempSync(join(tmpdir(), 'gantry-sandbox-sdk-'));
const kubectl = findBinary('kubectl')!;
const env = { ...process.env, GANTRY_LOG_LEVEL: 'warn', GANTRY_SANDBOX_DIR: dir, GANTRY_NATS_URL: '' };

let up: ChildProcess | undefined;
let exited: Promise<number | null> = Promise.resolve(null);
let out = '';

beforeAll(() => {
  up = spawn(process.execPath, [gantryBin(), 'sandbox', 'up', '--state-dir', dir, '--nodes', '1'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  up.stdout!.on('data', (d) => (out += d));
  up.stderr!.on('data', (d) => (out += d));
  const u = up;
  exited = new Promise<number | null>((r) => u.once('exit', (code) => r(code)));
});

afterAll(async () => {
  if (up && up.exitCode === null) {
    up.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number, detail: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}\n${detail()}`);
}

const kube = (...args: string[]) => execFileSync(kubectl, ['--kubeconfig', join(dir, 'kubeconfig'), ...args], { encoding: 'utf8' });
const gantry = (...args: string[]) =>
  execFileSync(process.execPath, [gantryBin(), ...args], { encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'pipe'] });

it('keyvalue-rs and echo-go are packed, pushed, served and answer gantry call', async () => {
  await until(
    '"The sandbox is up"',
    () => out.includes('The sandbox is up'),
    120_000,
    () => out,
  );
  const registry = JSON.parse(readFileSync(join(dir, 'sandbox.json'), 'utf8')).registry.location as string;
  const issuerSeed = join(dir, 'keys', 'account.nk');
  const issuer = gantry('keys', 'public', issuerSeed).trim();

  const examples = [
    { name: 'keyvalue-rs', capid: 'wascap:keyvalue', config: '' },
    { name: 'echo-go', capid: 'gantry:echo', config: '  config: {prefix: "go> "}\n' },
  ];
  for (const e of examples) {
    const par = join(dir, `${e.name}.par`);
    gantry(
      'par',
      'create',
      '--name',
      e.name,
      '--vendor',
      'gantry.dev',
      '--capid',
      e.capid,
      '--version',
      '0.1.0',
      '--revision',
      '1',
      '--issuer',
      issuerSeed,
      '--binary',
      `${hostTarget()}=${join(packageRoot(), 'providers', 'build', `${e.name}.so`)}`,
      '-o',
      par,
    );
    gantry('par', 'push', par, `${registry}/examples/${e.name}`, '--plain-http', '--trusted-issuer', issuer);
    const manifest = join(dir, `${e.name}.yaml`);
    writeFileSync(
      manifest,
      `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: {name: ${e.name}, namespace: default}\nspec:\n  archive: {ref: ${registry}/examples/${e.name}}\n  capabilityId: ${e.capid}\n${e.config}`,
    );
    kube('apply', '-f', manifest);
  }

  await until(
    'keyvalue-rs and echo-go Ready',
    () => {
      const items = JSON.parse(kube('get', 'providers', '-o', 'json')).items as {
        metadata: { name: string };
        status?: { conditions?: { type: string; status: string }[] };
      }[];
      const ready = items
        .filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
        .map((p) => p.metadata.name);
      return ['keyvalue-rs', 'echo-go'].every((n) => ready.includes(n)) || undefined;
    },
    60_000,
    () => kube('get', 'providers,providerinstances', '-o', 'wide'),
  );

  expect(gantry('call', 'keyvalue-rs', 'Set', '--data', '{"key":"answer","value":41}')).toBe('{"ok":true}\n');
  expect(gantry('call', 'keyvalue-rs', 'Incr', '--data', '{"key":"answer"}')).toBe('{"value":42}\n');
  expect(JSON.parse(gantry('call', 'keyvalue-rs', 'Keys', '--json'))).toMatchObject({
    reply: ['answer'],
    instance: expect.stringMatching(/^keyvalue-rs-/),
  });
  expect(gantry('call', 'echo-go', 'Echo', '--data', 'hello from Go')).toBe('go> hello from Go\n');

  // A provider error from the SDK travels as one: code and message, exit status 1.
  let failed: { status?: number; stderr?: string } = {};
  try {
    gantry('call', 'keyvalue-rs', 'Nope');
  } catch (e) {
    failed = e as typeof failed;
  }
  expect(failed.status).toBe(1);
  expect(String(failed.stderr)).toContain('PROVIDER_ERROR');
  expect(String(failed.stderr)).toContain('keyvalue has no operation "Nope"');
});
