/**
 * `gantry abi check` and the extension mechanism: the `extensions` check reports what the
 * host's loader reads (and fails, ending the run, on a bad ext_size or flag), the `health`
 * check reports healthy, unhealthy with the provider's message, or absent, and a health call
 * that hangs fails `health` after the check timeout. Real libraries: the health example, an
 * old-style example, and tables compiled here by cc.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAbiCheck, type AbiCheckReport } from '../../agent/host/abi-check.js';
import { packageRoot } from '../../runtime/paths.js';
import { compileTable } from './table-fixture.js';
import { buildProviders, providerLib } from '../host/helpers.js';

const root = packageRoot();
let dir: string;
beforeAll(() => {
  buildProviders();
  dir = mkdtempSync(join(tmpdir(), 'gantry-abi-health-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const gantry = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin', 'gantry.js'), 'abi', 'check', ...args], { encoding: 'utf8' });
const detail = (r: AbiCheckReport, name: string) => r.checks.find((c) => c.name === name)?.detail;
const failed = (r: AbiCheckReport) => r.checks.filter((c) => c.status === 'fail').map((c) => c.name);

describe('health', () => {
  it('healthy: every check passes and gantry abi check prints the extensions and health lines', () => {
    const file = join(dir, 'ok');
    writeFileSync(file, '');
    const r = gantry(
      providerLib('health'),
      '--capid',
      'gantry:health',
      '--config',
      JSON.stringify({ health_file: file }),
      '--op',
      'Echo=hi',
    );
    expect(r.stdout).toMatch(
      /^PASS\s+extensions\s+GANTRY_FLAG_EXTENSIONS, ext_size 24; health: set; handle_call_traced: NULL \(not implemented\); the host's loader accepts it$/m,
    );
    expect(r.stdout).toMatch(/^PASS\s+health\s+healthy$/m);
    expect(r.stdout).toMatch(/conforms to provider ABI v1 \(18 checks passed\)/);
    expect(r.status).toBe(0);
  });

  it('unhealthy: passes, reporting the code and the message', async () => {
    const file = join(dir, 'sick');
    writeFileSync(file, 'cache cold\n');
    const r = await runAbiCheck({ library: providerLib('health'), config: { health_file: file } });
    expect(failed(r)).toEqual([]);
    expect(detail(r, 'health')).toBe('unhealthy (code 1): cache cold');
  });

  it('absent: an old-style provider (flags 0) passes with health absent', () => {
    const r = gantry(providerLib('keyvalue'), '--op', 'Keys');
    expect(r.stdout).toMatch(/^PASS\s+extensions\s+none \(flags 0: the table ends at stop\); the host's loader accepts it$/m);
    expect(r.stdout).toMatch(/^PASS\s+health\s+absent: the provider has no health extension/m);
    expect(r.status).toBe(0);
  });

  it('a health call that hangs fails `health` after the check timeout', async () => {
    const file = join(dir, 'hang');
    writeFileSync(file, 'hang');
    const r = await runAbiCheck({ library: providerLib('health'), config: { health_file: file }, checkTimeoutMs: 1500 });
    expect(failed(r)).toEqual(['health']);
    expect(detail(r, 'health')).toMatch(/^did not finish within 1500 ms/);
  });
});

describe('the SDKs export health', () => {
  it.each([
    ['keyvalue-rs (Rust SDK default)', 'keyvalue-rs', {}, 'healthy'],
    ['echo-go (Go SDK default)', 'echo-go', {}, 'healthy'],
    ['panicky-rs, unhealthy', 'panicky-rs', { unhealthy: 'warming up' }, 'unhealthy (code 1): warming up'],
    [
      'panicky-rs, health panics',
      'panicky-rs',
      { unhealthy: 'panic' },
      'unhealthy (code 1): provider panicked in health: asked to panic in health',
    ],
  ])('%s', async (_what, lib, config, health) => {
    const r = await runAbiCheck({ library: providerLib(lib), config });
    expect(failed(r)).toEqual([]);
    expect(detail(r, 'extensions')).toBe(
      "GANTRY_FLAG_EXTENSIONS, ext_size 24; health: set; handle_call_traced: set; the host's loader accepts it",
    );
    expect(detail(r, 'health')).toBe(health);
  });
});

/** A table announcing extensions with `flags` and `extSize`, whose health fails without a message. */
function fixture(name: string, flags: number, extSize: number): string {
  return compileTable(dir, name, { flags, extSize, silentHealth: true, callStatus: 3 });
}

describe('extensions', () => {
  it('a table announcing extensions with a too-small ext_size fails `extensions` with the reason, and the run ends', () => {
    const r = gantry(fixture('small', 1, 4));
    expect(r.stdout).toMatch(
      /^FAIL\s+extensions\s+\S+small\.so: provider table announces extensions with ext_size 4; it must be a multiple of 8 from 8 \(the size field itself\) to 4096 — build it with GANTRY_EXT_SIZE$/m,
    );
    expect(r.stdout).toMatch(/^SKIP\s+health\s+not run: extensions failed$/m);
    expect(r.status).toBe(1);
  });

  it('an unknown flag bit fails `extensions`', async () => {
    const r = await runAbiCheck({ library: fixture('flag', 5, 16) });
    expect(failed(r)).toEqual(['extensions']);
    expect(detail(r, 'extensions')).toMatch(/sets flag bits 0x4 this host does not know/);
  });

  it('ext_size 8: health lies beyond it and is not read', async () => {
    const r = await runAbiCheck({ library: fixture('nohealth', 1, 8) });
    expect(detail(r, 'extensions')).toBe(
      "GANTRY_FLAG_EXTENSIONS, ext_size 8; health: beyond ext_size (not implemented); handle_call_traced: beyond ext_size (not implemented); the host's loader accepts it",
    );
    expect(detail(r, 'health')).toMatch(/^absent/);
  });

  it('handle_call_traced: listed, and every call check goes through it (echo: health NULL, the extension set)', async () => {
    const r = await runAbiCheck({ library: providerLib('echo'), ops: [{ op: 'Echo', payload: 'hi' }] });
    expect(failed(r)).toEqual([]);
    expect(detail(r, 'extensions')).toBe(
      "GANTRY_FLAG_EXTENSIONS, ext_size 24; health: NULL (not implemented); handle_call_traced: set; the host's loader accepts it",
    );
  });

  it('a library whose handle_call_traced breaks fails the call checks, though its handle_call is fine', async () => {
    // the fixture's handle_call answers 0 with an empty reply; handle_call_traced answers unknown-op
    // with a message: the checks see the traced one, the one a host calls
    const lib = compileTable(dir, 'traced-unknown', { flags: 1, extSize: 24, traced: true, callStatus: 3 });
    const r = await runAbiCheck({ library: lib, ops: [{ op: 'Any', payload: '' }] });
    expect(detail(r, 'calls')).toBe('Any failed with code 3: traced |');
  });

  it('a library that fails only when traced fails `traced-calls` with both codes', async () => {
    // every operation is "unknown" (3, with a message) untraced, and fails (1) when traced
    const lib = compileTable(dir, 'fails-traced', { flags: 1, extSize: 24, traced: true, healthy: true, callStatus: 3, tracedStatus: 1 });
    const r = await runAbiCheck({ library: lib });
    expect(failed(r)).toEqual(['traced-calls']);
    expect(detail(r, 'traced-calls')).toMatch(
      /^GantryAbiCheckNoSuchOperation answered code 1 \(traced 00-[0-9a-f]{32}-[0-9a-f]{16}-01\|gantry-abi-check=1\) with a trace context, 3 without: a trace context must not change what an operation does$/,
    );
  });

  it('`traced-calls` passes for the SDKs and echo, and says so for a library without the extension', async () => {
    const echo = await runAbiCheck({ library: providerLib('echo'), ops: [{ op: 'TraceContext', payload: '' }] });
    expect(detail(echo, 'traced-calls')).toMatch(
      /^2 operations answered with a trace context \(00-[0-9a-f]{32}-[0-9a-f]{16}-01\) as without one$/,
    );
    const kv = await runAbiCheck({ library: providerLib('keyvalue'), ops: [{ op: 'Keys', payload: '' }] });
    expect(detail(kv, 'traced-calls')).toBe('no handle_call_traced: a host calls handle_call for traced calls too');
  });

  it('unhealthy without a message fails `health`', async () => {
    const r = await runAbiCheck({ library: fixture('mute', 1, 16) });
    expect(failed(r)).toContain('health');
    expect(detail(r, 'health')).toBe('health returned code 1 without a message: say in *message why the provider cannot serve');
  });
});
