/**
 * Hosts and callers on a nats-server with accounts and permissions: the host authenticates
 * with user/password from its spec; a caller whose permissions forbid a subject gets
 * FORBIDDEN, not a timeout.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { startNats, type NatsServer } from '../support/nats.js';
import { connectNats } from '../../agent/host/index.js';
import { CallError, callProvider } from '../../client/call.js';
import { NS, buildProviders, makeHost, stopAllHosts, text } from './helpers.js';

let nats: NatsServer;
let caller: NatsConnection;

beforeAll(async () => {
  buildProviders();
  nats = await startNats({
    config: `authorization {
  users = [
    { user: host, password: hostpw }
    { user: caller, password: callerpw, permissions: {
        publish: { allow: ["gantry.${NS}.provider.echo-auth.>"] }
        subscribe: { allow: ["_INBOX.>"] } } }
  ]
}
`,
  });
  caller = await connectNats({ servers: nats.url, user: 'caller', pass: 'callerpw' });
});

afterAll(async () => {
  await stopAllHosts();
  await caller?.close();
  await nats?.stop();
});

it('serves a permitted caller and refuses a forbidden subject with FORBIDDEN', async () => {
  // Without credentials the host cannot connect: a start error of its own.
  const anonymous = makeHost(nats.url, { provider: 'echo-anon', instance: 'echo-anon-0' });
  await expect(anonymous.start()).rejects.toMatchObject({ code: 'NATS_AUTH_FAILED' });

  const host = makeHost(nats.url, {
    provider: 'echo-auth',
    instance: 'echo-auth-0',
    nats: { servers: nats.url, user: 'host', pass: 'hostpw' },
  });
  await host.start();
  const ok = await callProvider(caller, { namespace: NS, provider: 'echo-auth', op: 'Echo', data: 'permitted' });
  expect(text(ok.reply)).toBe('permitted');
  expect(ok.instance).toBe('echo-auth-0');

  let err: unknown;
  try {
    await callProvider(caller, {
      namespace: NS,
      provider: 'echo-auth',
      instance: 'echo-auth-0',
      op: 'Echo',
      data: 'forbidden',
      timeoutMs: 3000,
    });
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CallError);
  expect((err as CallError).code).toBe('FORBIDDEN');
});
