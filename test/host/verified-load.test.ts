import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CrashInfo } from '../../agent/host/index.js';
import { makeHost, markerLibrary, nextEvent, providerLib, startError, useHostWorld } from './helpers.js';

const world = useHostWorld();
let dir: string;
let marker: string;
let evil: string;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

beforeAll(() => {
  ({ dir, marker, library: evil } = markerLibrary('gantry-verified-load-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Replace `path` by the marker library as an attacker would: a new file renamed over it. */
function swapIn(path: string): void {
  copyFileSync(evil, `${path}.tmp`);
  renameSync(`${path}.tmp`, path);
}

it('a library swapped before the host opens it is refused (LIBRARY_HASH_MISMATCH) and never executed', async () => {
  const lib = join(dir, 'echo-1.so');
  copyFileSync(providerLib('echo'), lib);
  const verified = sha256(lib);
  swapIn(lib);
  const host = makeHost(world.nats.url, {
    provider: 'swap-before',
    instance: 'swap-before-0',
    libraryPath: lib,
    librarySha256: verified,
    expectedCapid: 'gantry:echo',
  });
  const err = await startError(host);
  expect(err.code).toBe('LIBRARY_HASH_MISMATCH');
  expect(err.message).toMatch(/changed after verification/);
  expect(existsSync(marker)).toBe(false);
});

it('a library swapped during a crash backoff is refused on restart and never executed', async () => {
  const lib = join(dir, 'faulty-1.so');
  copyFileSync(providerLib('faulty'), lib);
  const host = makeHost(
    world.nats.url,
    { provider: 'swap-backoff', instance: 'swap-backoff-0', libraryPath: lib, librarySha256: sha256(lib), expectedCapid: 'gantry:faulty' },
    { backoff: { initialMs: 300, maxMs: 1000, resetAfterMs: 60_000 } },
  );
  await host.start();
  // the swap happens in the crash handler, i.e. after the crash and before the restart is even scheduled
  const crashed = new Promise<CrashInfo>((resolve) =>
    host.once('crash', (c: CrashInfo) => {
      swapIn(lib);
      resolve(c);
    }),
  );
  const failed = nextEvent<{ code: string }>(host, 'failed');
  process.kill(host.pid!, 'SIGSEGV');
  expect((await crashed).signal).toBe('SIGSEGV');
  expect((await failed).code).toBe('LIBRARY_HASH_MISMATCH');
  expect(existsSync(marker)).toBe(false);
});

it('a started host maps its library from a sealed memfd, so the cache file no longer matters', async () => {
  const lib = join(dir, 'echo-2.so');
  copyFileSync(providerLib('echo'), lib);
  const host = makeHost(world.nats.url, {
    provider: 'pinned',
    instance: 'pinned-0',
    libraryPath: lib,
    librarySha256: sha256(lib),
    expectedCapid: 'gantry:echo',
  });
  await host.start();
  const maps = readFileSync(`/proc/${host.pid}/maps`, 'utf8');
  expect(maps).toMatch(/memfd:gantry-provider/);
  expect(maps).not.toContain(lib);
});
