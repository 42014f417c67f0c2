/**
 * Provider hosts serving real compiled providers over a real nats-server: load sharing,
 * addressing, keyvalue, dispatch to actors, limits, load-time errors and stop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServer } from '../support/nats.js';
import { callProvider } from '../../client/call.js';
import { HEADER_INSTANCE, HEADER_OP, HEADER_PROVIDER, actorSubject } from '../../client/protocol.js';
import { NS, buildProviders, makeHost, providerLib, stopAllHosts, text, callError, startError } from './helpers.js';

let nats: NatsServer;
let nc: NatsConnection;
let fixtures: string;

beforeAll(async () => {
  buildProviders();
  nats = await startNats({ maxPayload: 256 * 1024 });
  nc = await connect({ servers: nats.url });
  // Libraries that are not valid providers, built with the same compiler.
  fixtures = mkdtempSync(join(tmpdir(), 'gantry-host-fixtures-'));
  writeFileSync(join(fixtures, 'nosymbol.c'), 'int something_else(void) { return 1; }\n');
  writeFileSync(
    join(fixtures, 'abi99.c'),
    [
      '#include <stdint.h>',
      'static struct { uint32_t abi_version, flags; void *fns[9]; } table = { 99, 0, { 0 } };',
      'const void *__capability_provider_create(void) { return &table; }',
    ].join('\n'),
  );
  for (const n of ['nosymbol', 'abi99']) {
    execFileSync('cc', ['-shared', '-fPIC', '-o', join(fixtures, `${n}.so`), join(fixtures, `${n}.c`)]);
  }
  writeFileSync(join(fixtures, 'garbage.so'), Buffer.from('this is not an ELF shared object\n'.repeat(20)));
});

afterAll(async () => {
  await stopAllHosts();
  await nc?.close();
  await nats?.stop();
  if (fixtures) rmSync(fixtures, { recursive: true, force: true });
});

describe('serving', () => {
  it('three echo instances share the load of one provider through its queue group', async () => {
    const hosts = ['echo-a', 'echo-b', 'echo-c'].map((instance) =>
      makeHost(nats.url, { provider: 'echo', instance, expectedCapid: 'gantry:echo' }),
    );
    await Promise.all(hosts.map((h) => h.start()));
    expect(hosts.map((h) => h.state)).toEqual(['ready', 'ready', 'ready']);
    const served = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const { instance, reply } = await callProvider(nc, { namespace: NS, provider: 'echo', op: 'Echo', data: `hello ${i}` });
      expect(text(reply)).toBe(`hello ${i}`);
      served.set(instance, (served.get(instance) ?? 0) + 1);
    }
    expect([...served.keys()].sort()).toEqual(['echo-a', 'echo-b', 'echo-c']);
    expect([...served.values()].reduce((a, b) => a + b)).toBe(30);

    // The same instances answer by instance name and by capability id + link.
    const byInstance = await callProvider(nc, { namespace: NS, provider: 'echo', instance: 'echo-b', op: 'Echo', data: 'x' });
    expect(byInstance.instance).toBe('echo-b');
    const byCap = await callProvider(nc, { namespace: NS, capid: 'gantry:echo', op: 'Echo', data: 'y' });
    expect(['echo-a', 'echo-b', 'echo-c']).toContain(byCap.instance);
    expect(text(byCap.reply)).toBe('y');
  });

  it('passes the instance configuration to configure()', async () => {
    const host = makeHost(nats.url, { provider: 'echo-prefixed', instance: 'echo-p', linkName: 'loud', config: { prefix: '>> ' } });
    await host.start();
    const { reply } = await callProvider(nc, { namespace: NS, capid: 'gantry:echo', link: 'loud', op: 'Echo', data: 'hi' });
    expect(text(reply)).toBe('>> hi');
  });

  it('keyvalue: Set then Get returns the value; Incr, Keys, Del; provider errors carry its code', async () => {
    const host = makeHost(nats.url, {
      provider: 'kv',
      instance: 'kv-0',
      libraryPath: providerLib('keyvalue'),
      expectedCapid: 'wascap:keyvalue',
    });
    await host.start();
    const kv = (op: string, data = '{}') =>
      callProvider(nc, { namespace: NS, provider: 'kv', op, data }).then((r) => JSON.parse(text(r.reply)));
    expect(await kv('Set', '{"key":"greeting","value":"hello, \\"world\\""}')).toEqual({ ok: true });
    expect(await kv('Get', '{"key":"greeting"}')).toEqual({ value: 'hello, "world"' });
    expect(await kv('Set', '{"key":"obj","value":{"a":[1,2,{"b":"}"}]}}')).toEqual({ ok: true });
    expect(await kv('Get', '{"key":"obj"}')).toEqual({ value: { a: [1, 2, { b: '}' }] } });
    expect(await kv('Get', '{"key":"missing"}')).toBeNull();
    expect(await kv('Incr', '{"key":"n","by":5}')).toEqual({ value: 5 });
    expect(await kv('Incr', '{"key":"n"}')).toEqual({ value: 6 });
    expect((await kv('Keys')).sort()).toEqual(['greeting', 'n', 'obj']);
    expect(await kv('Del', '{"key":"n"}')).toEqual({ deleted: true });
    expect(await kv('Del', '{"key":"n"}')).toEqual({ deleted: false });

    const unknown = await callError(kv('Frobnicate'));
    expect(unknown.code).toBe('PROVIDER_ERROR');
    expect(unknown.providerCode).toBe(3);
    expect(unknown.instance).toBe('kv-0');
    expect(unknown.message).toMatch(/no operation "Frobnicate"/);
    const bad = await callError(kv('Get', 'not json'));
    expect(bad.code).toBe('PROVIDER_ERROR');
    expect(bad.providerCode).toBe(2);
    const notInt = await callError(kv('Incr', '{"key":"greeting"}'));
    expect(notInt.message).toMatch(/not an integer/);
  });

  it('messaging delivers published messages to a subscribed actor through the dispatcher', async () => {
    const host = makeHost(nats.url, {
      provider: 'msg',
      instance: 'msg-0',
      libraryPath: providerLib('messaging'),
      expectedCapid: 'wascap:messaging',
    });
    await host.start();
    const received: Array<{ op: string; provider: string; instance: string; body: unknown }> = [];
    const actor = nc.subscribe(actorSubject(NS, 'reader', 'msg'), {
      callback: (_e, m) => {
        received.push({
          op: m.headers?.get(HEADER_OP) ?? '',
          provider: m.headers?.get(HEADER_PROVIDER) ?? '',
          instance: m.headers?.get(HEADER_INSTANCE) ?? '',
          body: JSON.parse(text(m.data)),
        });
        m.respond();
      },
    });
    await nc.flush();
    // The subscriber is the calling actor (the subject's caller token).
    await callProvider(nc, { namespace: NS, provider: 'msg', op: 'Subscribe', caller: 'reader', data: '{"subject":"news"}' });
    const r1 = await callProvider(nc, {
      namespace: NS,
      provider: 'msg',
      op: 'Publish',
      data: '{"subject":"news","body":{"headline":"one"}}',
    });
    expect(JSON.parse(text(r1.reply))).toEqual({ subscribers: 1 });
    await callProvider(nc, { namespace: NS, provider: 'msg', op: 'Publish', data: '{"subject":"other","body":"not for reader"}' });
    await callProvider(nc, { namespace: NS, provider: 'msg', op: 'Publish', data: '{"subject":"news","body":"two"}' });
    for (let i = 0; i < 100 && received.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    actor.unsubscribe();
    expect(received).toEqual([
      { op: 'DeliverMessage', provider: 'msg', instance: 'msg-0', body: { subject: 'news', body: { headline: 'one' } } },
      { op: 'DeliverMessage', provider: 'msg', instance: 'msg-0', body: { subject: 'news', body: 'two' } },
    ]);
  });
});

describe('limits and caller errors', () => {
  it('refuses a payload over the instance cap, and one over the server max_payload before sending', async () => {
    const host = makeHost(nats.url, { provider: 'echo-small', instance: 'echo-small-0', limits: { maxPayloadBytes: 1024 } });
    await host.start();
    const ok = await callProvider(nc, { namespace: NS, provider: 'echo-small', op: 'Echo', data: new Uint8Array(1024) });
    expect(ok.reply.length).toBe(1024);
    const big = await callError(callProvider(nc, { namespace: NS, provider: 'echo-small', op: 'Echo', data: new Uint8Array(1025) }));
    expect(big.code).toBe('PAYLOAD_TOO_LARGE');
    expect(big.instance).toBe('echo-small-0');
    const huge = await callError(callProvider(nc, { namespace: NS, provider: 'echo-small', op: 'Echo', data: new Uint8Array(300 * 1024) }));
    expect(huge.code).toBe('PAYLOAD_TOO_LARGE');
    expect(huge.message).toMatch(/max_payload/);
  });

  it('distinguishes no responders, a missing operation and a bad target', async () => {
    const none = await callError(callProvider(nc, { namespace: NS, provider: 'nobody-home', op: 'Echo' }));
    expect(none.code).toBe('NO_RESPONDERS');
    await expect(callProvider(nc, { namespace: NS, op: 'Echo' })).rejects.toMatchObject({ code: 'BAD_TARGET' });
    await expect(callProvider(nc, { namespace: NS, instance: 'b', op: 'Echo' })).rejects.toMatchObject({ code: 'BAD_TARGET' });
    await expect(callProvider(nc, { namespace: NS, provider: 'a', capid: 'b', op: 'Echo' })).rejects.toMatchObject({ code: 'BAD_TARGET' });

    const host = makeHost(nats.url, { provider: 'echo-noop', instance: 'echo-noop-0' });
    await host.start();
    // An operation token that is not subjectToken's encoding (a bare %) cannot be decoded.
    const m = await nc.request(`gantry.${NS}.instance.echo-noop.echo-noop-0.%ZZ.anonymous`, new Uint8Array(0), {
      headers: headers(),
      timeout: 5000,
    });
    expect(m.headers?.get('Gantry-Error')).toBe('BAD_REQUEST');
    expect(m.headers?.get(HEADER_INSTANCE)).toBe('echo-noop-0');

    // The actor is the subject's caller token; a Gantry-Actor header is ignored.
    const h = headers();
    h.set('Gantry-Actor', 'mallory');
    const who = await nc.request(`gantry.${NS}.instance.echo-noop.echo-noop-0.Whoami.alice`, new Uint8Array(0), {
      headers: h,
      timeout: 5000,
    });
    expect(text(who.data)).toBe('alice');
  });
});

describe('load-time errors (no restart)', () => {
  it('capability id mismatch', async () => {
    const host = makeHost(nats.url, { provider: 'wrong', instance: 'wrong-0', expectedCapid: 'wascap:keyvalue' });
    const err = await startError(host);
    expect(err.code).toBe('CAPID_MISMATCH');
    expect(err.message).toMatch(/gantry:echo.*wascap:keyvalue/);
    expect(host.state).toBe('failed');
    expect(host.restartCount).toBe(0);
    const none = await callError(callProvider(nc, { namespace: NS, provider: 'wrong', op: 'Echo' }));
    expect(none.code).toBe('NO_RESPONDERS');
  });

  it('missing library, garbage library, no create symbol, other ABI version, refused config', async () => {
    const cases: Array<[string, Partial<Parameters<typeof makeHost>[1]>, string]> = [
      ['missing', { libraryPath: join(fixtures, 'does-not-exist.so') }, 'LOAD_FAILED'],
      ['garbage', { libraryPath: join(fixtures, 'garbage.so') }, 'LOAD_FAILED'],
      ['nosymbol', { libraryPath: join(fixtures, 'nosymbol.so') }, 'NOT_A_PROVIDER'],
      ['abi99', { libraryPath: join(fixtures, 'abi99.so') }, 'ABI_MISMATCH'],
      ['badconfig', { config: { prefix: 42 } }, 'CONFIG_REJECTED'],
      ['badspec', { namespace: '' }, 'BAD_SPEC'],
      ['badload', { loadReportMs: -1 }, 'BAD_SPEC'],
    ];
    const errors = await Promise.all(
      cases.map(([name, spec]) => startError(makeHost(nats.url, { provider: name, instance: `${name}-0`, ...spec }))),
    );
    expect(errors.map((e) => e.code)).toEqual(cases.map(([, , code]) => code));
    expect(errors[3]!.message).toMatch(/ABI v99/);
    expect(errors[6]!.message).toMatch(/loadReportMs: /);
  });
});

describe('stop', () => {
  it('stop() drains, stops the provider and the process; the instance no longer answers', async () => {
    const host = makeHost(nats.url, { provider: 'msg-stop', instance: 'msg-stop-0', libraryPath: providerLib('messaging') });
    await host.start();
    const pid = host.pid!;
    expect(pid).toBeGreaterThan(0);
    await callProvider(nc, { namespace: NS, provider: 'msg-stop', op: 'Subscribe', caller: 'x', data: '{"subject":"s"}' });
    const stopped = new Promise((r) => host.once('stopped', r));
    await host.stop();
    await stopped;
    expect(host.state).toBe('stopped');
    expect(host.pid).toBeUndefined();
    expect(() => process.kill(pid, 0)).toThrow();
    const none = await callError(callProvider(nc, { namespace: NS, provider: 'msg-stop', op: 'Publish', data: '{}' }));
    expect(none.code).toBe('NO_RESPONDERS');
  });
});
