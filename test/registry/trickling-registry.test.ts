/**
 * A registry that answers correctly but trickles (issue 29): a real docker-registry behind a
 * loopback proxy that paces its answers. `gantry par pull` (the built CLI) fails within its
 * deadline when the head trickles (REGISTRY_DEADLINE), fails after one window when the body
 * does (REGISTRY_TOO_SLOW), and `gantry par push` into a registry that reads slowly fails the
 * same way; a slow but steady transfer above the minimum rate gets through on both the fetch
 * and the direct-download paths. The guard on its own: transfer-guard.test.ts.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import { sha256Digest } from '../../registry/digest.js';
import { gantryIn } from '../support/gantry-cli.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { makeArchive, newSigner } from './fixtures.js';
import { startTricklingProxy, type TricklingProxy } from './trickling-proxy.js';

let reg: RegistryServer;
let proxy: TricklingProxy;
let work: string;
let big: Uint8Array;
const gantry = (args: string[]) => gantryIn(packageRoot(), work, args, 90_000);
const signer = newSigner();

beforeAll(async () => {
  reg = await startRegistry();
  proxy = await startTricklingProxy(Number(reg.host.split(':')[1]));
  work = mkdtempSync(join(tmpdir(), 'gantry-trickle-'));
  // 2 MiB of random bytes: the layer takes the direct-download path (≥ 1 MiB) and does not compress
  big = await makeArchive(signer, 1, { binaryBytes: 2 * 1024 * 1024 });
  writeFileSync(join(work, 'big.par.gz'), big);
  writeFileSync(join(work, 'small.par.gz'), await makeArchive(signer, 2));
  for (const f of ['big', 'small']) {
    const pushed = await gantry(['par', 'push', join(work, `${f}.par.gz`), `${reg.host}/trickle/payments`, '--plain-http']);
    expect(pushed.stderr).toBe('');
  }
}, 60_000);
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function pull(revision: number, extra: string[]): Promise<{ code: number; stderr: string; ms: number; out: string }> {
  const out = join(work, `pulled-${revision}-${Date.now()}.par`);
  const started = Date.now();
  const r = await gantry([
    'par',
    'pull',
    `${proxy.host}/trickle/payments`,
    '--plain-http',
    '--revision',
    String(revision),
    '-o',
    out,
    ...extra,
  ]);
  return { code: r.code, stderr: r.stderr, ms: Date.now() - started, out };
}

describe('a trickling registry', () => {
  it('trickling heads: the pull fails at its deadline with REGISTRY_DEADLINE and the numbers, not after every retry', async () => {
    proxy.setPace({ bytes: 1, tickMs: 100, from: 'head' }); // 10 B/s from the first byte
    const r = await pull(2, ['--registry-deadline', '3s']);
    expect(r.stderr).toMatch(/REGISTRY_DEADLINE: .* did not finish within the 3000 ms deadline/);
    expect(r.code).toBe(1);
    // the old idle and header timers let it run 30 s per attempt, four attempts
    expect(r.ms).toBeLessThan(25_000);
  });

  it('trickling bodies: the pull fails after one window with REGISTRY_TOO_SLOW, whatever the deadline', async () => {
    proxy.setPace({ bytes: 5, tickMs: 100, from: 'body' }); // heads at once, then 50 B/s
    const r = await pull(2, ['--registry-min-rate', '1KiB', '--registry-rate-window', '1s']);
    expect(r.stderr).toMatch(/REGISTRY_TOO_SLOW: .* moved \d+ bytes in 1000 ms \(\d+ B\/s\), under the minimum of 1024 B\/s/);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(25_000); // the default deadline is 10 minutes
  });

  it('a slow but steady registry above the minimum rate gets a 2 MiB archive through, window after window', async () => {
    proxy.setPace({ bytes: 64 * 1024, tickMs: 100, from: 'head' }); // 640 KiB/s: ~3 s for the layer
    const r = await pull(1, ['--registry-min-rate', '64KiB', '--registry-rate-window', '500ms', '--registry-deadline', '60s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha256Digest(readFileSync(r.out))).toBe(sha256Digest(big));
    expect(r.ms).toBeGreaterThan(2 * 500); // it did take several windows
  });

  it('a registry that reads an upload slowly: the push fails with REGISTRY_TOO_SLOW', async () => {
    proxy.setPace(undefined, 8 * 1024); // reads 8 KiB/s of what it is sent
    const other = await makeArchive(signer, 3, { binaryBytes: 8 * 1024 * 1024 });
    writeFileSync(join(work, 'upload.par.gz'), other);
    const started = Date.now();
    const r = await gantry([
      'par',
      'push',
      join(work, 'upload.par.gz'),
      `${proxy.host}/trickle/payments`,
      '--plain-http',
      '--registry-min-rate',
      '256KiB',
      '--registry-rate-window',
      '1s',
    ]);
    expect(r.stderr).toMatch(/REGISTRY_TOO_SLOW: .* moved \d+ bytes in 1000 ms/);
    expect(r.code).toBe(1);
    expect(Date.now() - started).toBeLessThan(25_000);
  });

  it('bad limits are usage errors naming the flag', async () => {
    const r = await pull(2, ['--registry-deadline', '0s']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--registry-deadline "0s": expected a positive duration/);
    const rate = await pull(2, ['--registry-min-rate', 'fast']);
    expect(rate.code).toBe(2);
    expect(rate.stderr).toMatch(/--registry-min-rate "fast"/);
  });
});
