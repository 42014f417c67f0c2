import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callProvider } from '../../client/call.js';
import type { CrashInfo } from '../../agent/host/index.js';
import {
  F_ADD_SEALS,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  loadLibc,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
} from '../../agent/host/libc.js';
import { SealedLibraries } from '../../agent/sealed-libraries.js';
import { makeHost, markerLibrary, NS, nextEvent, providerLib, startError, text, useHostWorld } from './helpers.js';

const world = useHostWorld();
const F_SEAL_FUTURE_WRITE = 0x10;
let dir: string;
let marker: string;
let evil: string;
const libraries = new SealedLibraries();

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(() => {
  ({ dir, marker, library: evil } = markerLibrary('gantry-sealed-load-'));
});

afterAll(() => {
  libraries.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A memfd holding `bytes` with exactly `seals` added (what an attacker or a bug might hand over). */
function memfdWith(bytes: Uint8Array, seals: number): number {
  const c = loadLibc()!;
  const fd = c.memfdCreate('test-library', MFD_CLOEXEC | MFD_ALLOW_SEALING);
  expect(fd).toBeGreaterThanOrEqual(0);
  for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
  if (seals) expect(c.fcntl(fd, F_ADD_SEALS, seals)).toBe(0);
  return fd;
}

/** A host whose spec names the attacker's file and whose descriptor is `fd`. */
function hostWith(name: string, fd: number, capid = 'gantry:echo') {
  return makeHost(
    world.nats.url,
    {
      provider: name,
      instance: `${name}-0`,
      libraryPath: evil,
      librarySha256: sha256(readFileSync(providerLib('echo'))),
      expectedCapid: capid,
    },
    { libraryFd: fd },
  );
}

it('a host handed the sealed copy loads it and serves, never reading the file its spec names', async () => {
  const echo = readFileSync(providerLib('echo'));
  expect(libraries.seal(echo, sha256(echo))).toBe(true);
  const host = hostWith('sealed', libraries.descriptorFor(sha256(echo))!);
  await host.start();
  const maps = readFileSync(`/proc/${host.pid}/maps`, 'utf8');
  expect(maps).toContain(`memfd:gantry-provider-${sha256(echo).slice(0, 12)}`);
  expect(maps).not.toContain(evil);
  expect(existsSync(marker)).toBe(false);
  const r = await callProvider(world.nc, { namespace: NS, provider: 'sealed', op: 'Echo', data: 'sealed bytes' });
  expect(text(r.reply)).toBe('sealed bytes');
});

it.each([
  ['unsealed', 0, /lacks F_SEAL_WRITE, F_SEAL_GROW, F_SEAL_SHRINK/],
  ['writable', F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL, /lacks F_SEAL_WRITE:/],
  ['future-write', F_SEAL_FUTURE_WRITE | F_SEAL_GROW | F_SEAL_SHRINK, /lacks F_SEAL_WRITE:/],
  ['growable', F_SEAL_WRITE | F_SEAL_SHRINK, /lacks F_SEAL_GROW:/],
  ['shrinkable', F_SEAL_WRITE | F_SEAL_GROW, /lacks F_SEAL_SHRINK:/],
])('a %s memfd handed to the host is refused (LIBRARY_NOT_SEALED) and never executed', async (name, seals, why) => {
  const err = await startError(hostWith(`not-sealed-${name}`, memfdWith(readFileSync(evil), seals)));
  expect(err.code).toBe('LIBRARY_NOT_SEALED');
  expect(err.message).toMatch(why);
  expect(existsSync(marker)).toBe(false);
});

it('a plain file descriptor handed to the host is refused (LIBRARY_NOT_SEALED): not sealable memory', async () => {
  const err = await startError(hostWith('plain-file', openSync(evil, 'r')));
  expect(err.code).toBe('LIBRARY_NOT_SEALED');
  expect(err.message).toMatch(/not sealable memory/);
  expect(existsSync(marker)).toBe(false);
});

it('a spec saying the library was handed over, with no descriptor on the channel, is refused (LOAD_FAILED)', async () => {
  const host = makeHost(world.nats.url, {
    provider: 'no-descriptor',
    instance: 'no-descriptor-0',
    libraryPath: evil,
    librarySha256: sha256(readFileSync(providerLib('echo'))),
    librarySealed: true,
  });
  const err = await startError(host);
  expect(err.code).toBe('LOAD_FAILED');
  expect(err.message).toMatch(/no library descriptor arrived on the host's library channel \(fd 4\)/);
  expect(existsSync(marker)).toBe(false);
});

it('bytes that do not hash to the signed value never become a sealed copy (BINARY_HASH_MISMATCH)', () => {
  const want = sha256(readFileSync(providerLib('echo')));
  const fresh = new SealedLibraries();
  expect(() => fresh.seal(readFileSync(evil), want)).toThrow(expect.objectContaining({ code: 'BINARY_HASH_MISMATCH' }));
  expect(fresh.descriptorFor(want)).toBeUndefined();
});

it('a restarted host is handed the sealed copy again: a swapped file changes nothing', async () => {
  const faulty = readFileSync(providerLib('faulty'));
  const lib = join(dir, 'faulty.so');
  writeFileSync(lib, faulty);
  libraries.seal(faulty, sha256(faulty));
  const host = makeHost(
    world.nats.url,
    {
      provider: 'sealed-restart',
      instance: 'sealed-restart-0',
      libraryPath: lib,
      librarySha256: sha256(faulty),
      expectedCapid: 'gantry:faulty',
    },
    { libraryFd: libraries.descriptorFor(sha256(faulty))!, backoff: { initialMs: 100, maxMs: 1000, resetAfterMs: 60_000 } },
  );
  await host.start();
  const crashed = new Promise<CrashInfo>((resolve) =>
    host.once('crash', (c: CrashInfo) => {
      writeFileSync(lib, readFileSync(evil)); // the attacker's bytes where the file was
      resolve(c);
    }),
  );
  const ready = nextEvent(host, 'ready');
  process.kill(host.pid!, 'SIGSEGV');
  expect((await crashed).signal).toBe('SIGSEGV');
  await ready;
  expect(host.restartCount).toBe(1);
  expect(readFileSync(`/proc/${host.pid}/maps`, 'utf8')).toContain(`memfd:gantry-provider-${sha256(faulty).slice(0, 12)}`);
  expect(existsSync(marker)).toBe(false);
});

it('remembers a verified archive only while its cache files are the ones that verified', () => {
  const echo = readFileSync(providerLib('echo'));
  const file = join(dir, 'archive.par');
  writeFileSync(file, 'archive bytes');
  const fresh = new SealedLibraries();
  fresh.seal(echo, sha256(echo));
  fresh.remember('sha256:aa', 'jwt', sha256(echo), [file]);
  expect(fresh.recall('sha256:aa')).toMatchObject({ jwt: 'jwt', sha256: sha256(echo) });
  writeFileSync(file, 'archive bytez'); // same size, rewritten in place
  expect(fresh.recall('sha256:aa')).toBeUndefined();
  fresh.remember('sha256:bb', 'jwt', sha256(echo), [join(dir, 'missing.par')]);
  expect(fresh.recall('sha256:bb')).toBeUndefined();
  fresh.close();
});

it('drops the least recently used copy over its bound; a host descriptor taken before stays readable', () => {
  const echo = readFileSync(providerLib('echo'));
  const faulty = readFileSync(providerLib('faulty'));
  const fresh = new SealedLibraries(Math.max(echo.length, faulty.length) + 1);
  fresh.seal(echo, sha256(echo));
  const held = fresh.descriptorFor(sha256(echo))!;
  fresh.seal(faulty, sha256(faulty));
  expect(fresh.descriptorFor(sha256(echo))).toBeUndefined();
  expect(sha256(readFileSync(`/proc/self/fd/${held}`))).toBe(sha256(echo));
  closeSync(held);
  fresh.close();
});
