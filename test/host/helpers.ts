/** Shared setup for provider host tests: built example providers and host specs. */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect } from 'vitest';
import { CallError } from '../../client/call.js';
import { packageRoot } from '../../runtime/paths.js';
import { startNats, type NatsServer } from '../support/nats.js';
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

export function makeHost(natsUrl: string, spec: Partial<HostSpec> & { provider: string; instance: string }, opts?: ProviderHostOptions): ProviderHost {
  const host = new ProviderHost({ libraryPath: providerLib('echo'), namespace: NS, nats: { servers: natsUrl }, ...spec }, opts);
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
    host.once(event, (v: T) => { clearTimeout(t); resolve(v); });
  });
}

/**
 * The usual world of a host test file: the example providers built, one nats-server, a
 * client connection; hosts made with makeHost are stopped after the file. Read `nats`/`nc`
 * inside tests (they are set in beforeAll).
 */
export function useHostWorld(): { readonly nats: NatsServer; readonly nc: NatsConnection } {
  const w = {} as { nats: NatsServer; nc: NatsConnection };
  beforeAll(async () => {
    buildProviders();
    w.nats = await startNats();
    w.nc = await connect({ servers: w.nats.url });
  });
  afterAll(async () => {
    await stopAllHosts();
    await w.nc?.close();
    await w.nats?.stop();
  });
  return w;
}

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
