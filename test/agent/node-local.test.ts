/**
 * The agent's node-local pieces without a cluster: target detection, the content-addressed
 * binary store, host records (reaping what a previous agent left behind, never a stranger
 * with a reused pid) and the mapping from pipeline errors to status reasons.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BinaryStore, BinaryStoreError, sha256Hex } from '../../agent/binaries.js';
import { classify, InstanceFailure } from '../../agent/failure.js';
import { readiness } from '../../agent/health.js';
import { HostRecords, isProviderHost } from '../../agent/host-records.js';
import { parseListenAddr } from '../../runtime/metrics-server.js';
import { hostTarget, parseTarget, targetFor } from '../../agent/target.js';
import { UsageError } from '../../runtime/errors.js';

const dirs: string[] = [];
const procs: ChildProcess[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'gantry-agent-unit-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('target', () => {
  it('maps Node.js arch/platform to PAR target names', () => {
    expect(targetFor('x64', 'linux')).toBe('x86_64-linux');
    expect(targetFor('arm64', 'darwin')).toBe('aarch64-macos');
    expect(targetFor('ia32', 'win32')).toBe('x86-windows');
    expect(targetFor('ppc64', 'linux')).toBe('powerpc64le-linux');
    expect(() => targetFor('sparc', 'linux')).toThrow(/no PAR target/);
    expect(hostTarget()).toMatch(/^[a-z0-9_]+-[a-z0-9_]+$/);
  });
  it('refuses a malformed target override', () => {
    expect(parseTarget('aarch64-linux')).toBe('aarch64-linux');
    expect(() => parseTarget('aarch64/linux')).toThrow(/expected <arch>-<os>/);
  });
});

describe('BinaryStore', () => {
  it('writes by hash into a private dir and replaces a file altered after extraction', () => {
    const dir = join(tempDir(), 'bin');
    const store = new BinaryStore(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const bytes = Buffer.from('pretend this is an ELF shared object');
    const hash = sha256Hex(bytes).toUpperCase(); // claims carry uppercase hex
    const path = store.install(bytes, hash);
    expect(path).toBe(join(dir, `${sha256Hex(bytes)}.so`));
    expect(readFileSync(path)).toEqual(bytes);

    // someone edits the library on disk: the store must not hand it out again
    rmSync(path);
    writeFileSync(path, 'evil');
    const again = store.install(bytes, hash);
    expect(again).toBe(path);
    expect(readFileSync(again)).toEqual(bytes);
  });
  it('refuses bytes that do not match the signed hash', () => {
    const store = new BinaryStore(join(tempDir(), 'bin'));
    const err = (() => {
      try {
        store.install(Buffer.from('a'), sha256Hex(Buffer.from('b')));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(BinaryStoreError);
    expect((err as BinaryStoreError).code).toBe('BINARY_HASH_MISMATCH');
    expect(classify(err, 'verify').reason).toBe('HashMismatch');
  });
});

describe('HostRecords', () => {
  function sleeper(marker: string): ChildProcess {
    // a stand-in whose command line looks like a provider host (or not)
    const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', marker], { stdio: 'ignore' });
    procs.push(p);
    return p;
  }
  const exited = (p: ChildProcess) =>
    new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));

  it('reaps recorded provider hosts and leaves unrelated processes alone', async () => {
    const records = new HostRecords(join(tempDir(), 'hosts'));
    const host = sleeper('/x/dist/agent/host/main.js');
    const stranger = sleeper('/x/something-else.js');
    await new Promise((r) => setTimeout(r, 200));
    records.write({ uid: 'u1', namespace: 'ns', name: 'a', pid: host.pid! });
    records.write({ uid: 'u2', namespace: 'ns', name: 'b', pid: stranger.pid! }); // a reused pid
    records.write({ uid: 'u3', namespace: 'ns', name: 'c', pid: 2 ** 22 + 7 }); // long gone
    expect(records.list()).toHaveLength(3);
    expect(isProviderHost(host.pid!)).toBe(true);
    expect(isProviderHost(stranger.pid!)).toBe(false);

    const reaped = await records.reapAll(2_000);
    expect(reaped.map((r) => r.uid)).toEqual(['u1']);
    await exited(host);
    expect(host.signalCode).toBe('SIGTERM');
    expect(stranger.exitCode).toBeNull();
    expect(stranger.signalCode).toBeNull();
    expect(records.list()).toEqual([]);
  });
});

describe('failure reasons', () => {
  it('gives every verification failure its own reason, and retries only transient ones', () => {
    const cases: [string, string, boolean][] = [
      ['PAR_HASH_MISMATCH', 'HashMismatch', false],
      ['PAR_UNTRUSTED_ISSUER', 'UntrustedIssuer', false],
      ['PAR_SIGNATURE_INVALID', 'SignatureInvalid', false],
      ['PAR_TARGET_NOT_FOUND', 'TargetNotInArchive', false],
      ['CAPID_MISMATCH', 'CapabilityMismatch', false],
      ['LOAD_FAILED', 'LoadFailed', false],
      ['ABI_MISMATCH', 'AbiMismatch', false],
      ['UNREACHABLE', 'FetchFailed', true],
      ['AUTH_FAILED', 'RegistryUnauthorized', true],
      ['NATS_AUTH_FAILED', 'NatsAuthFailed', true],
      ['NATS_TLS_FAILED', 'NatsTlsFailed', true],
    ];
    for (const [code, reason, retryable] of cases) {
      const f = classify(Object.assign(new Error(code), { code }), 'fetch');
      expect([code, f.reason, f.retryable]).toEqual([code, reason, retryable]);
    }
    const own = new InstanceFailure('TargetNotSupported', 'x');
    expect(classify(own, 'fetch')).toBe(own);
    expect(classify(new Error('socket hang up'), 'fetch')).toMatchObject({ reason: 'FetchFailed', retryable: true });
    expect(classify(new Error('weird'), 'start')).toMatchObject({ reason: 'LoadFailed', retryable: false });
  });
});

describe('readiness and the metrics address', () => {
  it('is ready only when synced and the last renewal succeeded within the staleness bound, and says why not', () => {
    let synced = false;
    let lease: { lastSuccessAt?: number; lastError?: string } = {};
    let now = 1_000_000;
    const ready = readiness({ synced: () => synced, lease: () => lease, staleAfterMs: 900, now: () => now });
    expect(ready()).toBe('ProviderInstance cache not synced');
    synced = true;
    expect(ready()).toBe('Lease not renewed yet');
    lease = { lastSuccessAt: now - 100 };
    expect(ready()).toBe(true);
    now += 2_000; // renewals silently stopped (a hung request)
    expect(ready()).toBe('last Lease renewal 2 s ago');
    lease = { lastSuccessAt: now, lastError: 'connect ECONNREFUSED 127.0.0.1:6443' };
    expect(ready()).toBe('last Lease renewal failed: connect ECONNREFUSED 127.0.0.1:6443');
  });

  it('takes HOST:PORT as the controller does and refuses anything else as a usage error', () => {
    expect(parseListenAddr('0.0.0.0:9091')).toEqual({ host: '0.0.0.0', port: 9091 });
    expect(parseListenAddr(':9091')).toEqual({ host: '127.0.0.1', port: 9091 });
    expect(parseListenAddr('[::1]:0')).toEqual({ host: '::1', port: 0 });
    for (const bad of ['127.0.0.1:http', '127.0.0.1:70000', 'localhost:']) {
      let err: any;
      try {
        parseListenAddr(bad);
      } catch (e) {
        err = e;
      }
      expect(err?.message).toBe(`--metrics-addr ${bad}: expected HOST:PORT`);
      expect(err).toBeInstanceOf(UsageError); // the CLI exits 2 for it (test/cli/exit-status.test.ts)
    }
  });
});
