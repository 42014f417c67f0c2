/** Shared setup for provider host tests: built example providers and host specs. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basename } from 'node:path';
import { createUser } from '@nats-io/nkeys';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../client/nats.js';
import { formatCreds } from '../../client/creds.js';
import { granteePermissions } from '../../membrane/permissions.js';
import { afterAll, beforeAll, expect } from 'vitest';
import { CallError } from '../../client/call.js';
import { packageRoot } from '../../runtime/paths.js';
import { startMembraneNats, type MembraneNats, type NatsServer } from '../support/nats.js';
import { HostError, ProviderHost, type HostSpec, type ProviderHostOptions } from '../../agent/host/index.js';

export const NS = 'host-test';

/** Compile providers/*.c (make is incremental, so this is cheap after the first file). */
export function buildProviders(): void {
  execFileSync('make', ['-s', '-C', join(packageRoot(), 'providers')], { stdio: 'inherit' });
}

export function providerLib(name: string): string {
  return join(packageRoot(), 'providers', 'build', `${name}.so`);
}

const started: ProviderHost[] = [];

/** The capability ids of the example libraries, for host credentials when a spec names none. */
const CAPIDS: Record<string, string> = {
  echo: 'gantry:echo',
  keyvalue: 'wascap:keyvalue',
  'keyvalue-rs': 'wascap:keyvalue',
  messaging: 'wascap:messaging',
  faulty: 'gantry:faulty',
  health: 'gantry:health',
  'panicky-rs': 'gantry:panicky',
  'panicky-go': 'gantry:panicky',
};

/** The membrane server of the current test file's world (useHostWorld), if any. */
let membrane: MembraneNats | undefined;

/**
 * A host on `natsUrl`; on a useHostWorld server (the membrane) it connects with its own
 * instance's host credentials unless the spec names other NATS options.
 */
export function makeHost(
  natsUrl: string,
  spec: Partial<HostSpec> & { provider: string; instance: string },
  opts?: ProviderHostOptions,
): ProviderHost {
  const libraryPath = spec.libraryPath ?? providerLib('echo');
  let nats: HostSpec['nats'] = { servers: natsUrl };
  if (membrane && membrane.url === natsUrl && !spec.nats) {
    const capid = spec.expectedCapid ?? CAPIDS[basename(libraryPath).replace(/\.so$/, '')];
    nats = {
      servers: natsUrl,
      credsFile: membrane.hostCreds({
        namespace: spec.namespace ?? NS,
        provider: spec.provider,
        instance: spec.instance,
        capid,
        linkName: spec.linkName,
      }),
    };
  }
  const host = new ProviderHost({ libraryPath, namespace: NS, nats, ...spec }, opts);
  started.push(host);
  return host;
}

/** Stop every host a test file made (afterAll). */
export async function stopAllHosts(): Promise<void> {
  await Promise.all(started.splice(0).map((h) => h.stop()));
}

export function text(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
}

/** Wait for an event with a bound, so a missing event fails the test instead of hanging it. */
export function nextEvent<T = unknown>(host: ProviderHost, event: string, timeoutMs = 20_000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${event}' event within ${timeoutMs} ms`)), timeoutMs);
    host.once(event, (v: T) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

/**
 * The usual world of a host test file: the example providers built, one nats-server in
 * operator mode (the membrane), an admin client connection (it may call anything); hosts made
 * with makeHost connect with their own instance's credentials and are stopped after the file.
 * Read `nats`/`nc` inside tests (they are set in beforeAll).
 */
export function useHostWorld(): {
  readonly nats: MembraneNats;
  readonly nc: NatsConnection;
  actor(provider: string): Promise<{ nc: NatsConnection; key: string }>;
} {
  const conns: NatsConnection[] = [];
  const w = {
    /** An actor: a grantee of `provider` (every operation), connected; dispatches to it arrive on actorSubject(NS, key, provider). */
    async actor(provider: string) {
      const kp = createUser();
      const key = kp.getPublicKey();
      const { jwt } = w.nats.authority.mintUser(`actor-${provider}`, (k) => granteePermissions(k, NS, { provider }, ['*']), {
        userKey: key,
      });
      const nc = await connectNats({
        servers: w.nats.url,
        credsFile: w.nats.writeCreds(`actor-${provider}`, formatCreds(jwt, new TextDecoder().decode(kp.getSeed()))),
      });
      conns.push(nc);
      return { nc, key };
    },
  } as { nats: MembraneNats; nc: NatsConnection; actor(provider: string): Promise<{ nc: NatsConnection; key: string }> };
  beforeAll(async () => {
    buildProviders();
    w.nats = await startMembraneNats();
    membrane = w.nats;
    w.nc = await connectNats({ servers: w.nats.url, credsFile: w.nats.adminCreds });
  });
  afterAll(async () => {
    await stopAllHosts();
    await Promise.all(conns.map((c) => c.close().catch(() => {})));
    await w.nc?.close();
    await w.nats?.stop();
    membrane = undefined;
  });
  return w;
}

export type { NatsServer };

/** The CallError a call fails with (the test fails if it succeeds or fails otherwise). */
export async function callError(p: Promise<unknown>): Promise<CallError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CallError);
    return e as CallError;
  }
  throw new Error('expected the call to fail');
}

/** The HostError a host's start() fails with (the test fails if it starts). */
export async function startError(host: ProviderHost): Promise<HostError> {
  try {
    await host.start();
  } catch (e) {
    expect(e).toBeInstanceOf(HostError);
    return e as HostError;
  }
  throw new Error('expected start() to fail');
}

/**
 * Builds, in a fresh temporary directory, a shared library whose constructor creates the file
 * `marker` when it is loaded: the attack tests' proof that a refused library never ran.
 */
export function markerLibrary(prefix: string): { dir: string; marker: string; library: string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const marker = join(dir, 'EXECUTED');
  writeFileSync(
    join(dir, 'evil.c'),
    [
      '#include <fcntl.h>',
      '#include <unistd.h>',
      `__attribute__((constructor)) static void ran(void) { int fd = open(${JSON.stringify(marker)}, O_CREAT | O_WRONLY, 0600); if (fd >= 0) close(fd); }`,
      'void *__capability_provider_create(void) { return 0; }',
      '',
    ].join('\n'),
  );
  const library = join(dir, 'evil.so');
  execFileSync('cc', ['-shared', '-fPIC', '-o', library, join(dir, 'evil.c')]);
  return { dir, marker, library };
}
