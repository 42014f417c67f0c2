/**
 * A provider written with the Rust or the Go SDK that panics in an operation
 * (providers/sdk/rust/examples/panicky.rs, providers/sdk/go/examples/panicky/main.go, both
 * panicking while holding their lock) answers that call with a provider error naming the
 * operation and the panic, and keeps serving: same host process, no restart, state intact.
 */
import { expect, it } from 'vitest';
import { callProvider } from '../../client/call.js';
import { NS, callError, makeHost, providerLib, text, useHostWorld } from '../host/helpers.js';

const world = useHostWorld();

it.each(['panicky-rs', 'panicky-go'])(
  '%s: a panic becomes PROVIDER_ERROR (code 1) and the provider keeps serving in the same process',
  async (lib) => {
    const host = makeHost(world.nats.url, {
      provider: lib,
      instance: `${lib}-0`,
      libraryPath: providerLib(lib),
      expectedCapid: 'gantry:panicky',
    });
    await host.start();
    const pid = host.pid;
    const call = (op: string) => callProvider(world.nc, { namespace: NS, provider: lib, instance: `${lib}-0`, op, timeoutMs: 5000 });
    expect(text((await call('Count')).reply)).toBe('1');

    const err = await callError(call('Panic'));
    expect(err.code).toBe('PROVIDER_ERROR');
    expect(err.providerCode).toBe(1);
    expect(err.message).toContain('provider panicked in Panic: asked to panic after 2 calls');

    // Several panics in a row, concurrently with normal calls: every one is answered.
    const mixed = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => call(i % 2 ? 'Panic' : 'Count')));
    expect(mixed.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    expect(mixed.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code)).toEqual(
      Array(10).fill('PROVIDER_ERROR'),
    );

    // The lock the panic poisoned is recovered, and the count went on: 2 + 20 calls before this one.
    expect(text((await call('Count')).reply)).toBe('23');
    expect(host.pid).toBe(pid);
    expect(host.restartCount).toBe(0);
  },
);
