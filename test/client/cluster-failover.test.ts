/**
 * Callers and provider hosts on a NATS cluster of three real nats-servers (operator mode, the
 * membrane, routes on loopback): killing the server a caller is on fails its call in flight at
 * once with CONNECTION_LOST (not at its 20 s deadline), and calls resume through another
 * server; killing each server in turn (so also the one the host is on) never stops calls for
 * longer than the clients take to reconnect.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { gantryBin } from '../../runtime/paths.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { callProvider } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { startMembraneNatsCluster, type MembraneNatsCluster } from '../support/nats.js';
import { NS, buildProviders, callError, makeHost, providerLib, stopAllHosts, text } from '../host/helpers.js';

let cluster: MembraneNatsCluster;
let nc: NatsConnection;

beforeAll(async () => {
  buildProviders();
  cluster = await startMembraneNatsCluster(3);
  for (const [provider, lib, capid] of [
    ['echo-c', 'echo', 'gantry:echo'],
    ['faulty-c', 'faulty', 'gantry:faulty'],
  ]) {
    const instance = `${provider}-0`;
    await makeHost(cluster.urls[0], {
      provider,
      instance,
      libraryPath: providerLib(lib),
      expectedCapid: capid,
      nats: { servers: cluster.urls.join(','), credsFile: cluster.hostCreds({ namespace: NS, provider, instance, capid }) },
    }).start();
  }
  nc = await connectNats({ servers: cluster.urls.join(','), credsFile: cluster.adminCreds });
});

afterAll(async () => {
  await stopAllHosts();
  await nc?.close().catch(() => {});
  await cluster?.stop();
});

/** Index of the server a connection is on now. */
function serverOf(c: NatsConnection): number {
  const i = cluster.urls.findIndex((u) => u.endsWith(`:${c.getServer().split(':').pop()}`));
  expect(i).toBeGreaterThanOrEqual(0);
  return i;
}

/**
 * The call just started has reached nc's server: its request is published once the call's
 * microtasks have run (setImmediate comes after them), and a flush's PONG comes back only
 * after the server has read everything sent before it. Killing that server then cuts a call
 * in flight — instead of a fixed sleep that a loaded machine could outrun.
 */
async function inFlightOnServer(): Promise<void> {
  await new Promise((r) => setImmediate(r));
  await nc.flush();
}

const echo = (data: string) =>
  callProvider(nc, { namespace: NS, provider: 'echo-c', op: 'Echo', data, timeoutMs: 15_000, retry: { retries: 50 } });

it('a call in flight on a lost server fails at once with CONNECTION_LOST, and the next call goes through another server', async () => {
  expect(text((await echo('before')).reply)).toBe('before');
  const on = serverOf(nc);
  // Hang never answers: only the server loss can end this call before its 20 s deadline, and
  // then with CONNECTION_LOST (the deadline would say TIMEOUT)
  const inFlight = callError(callProvider(nc, { namespace: NS, provider: 'faulty-c', op: 'Hang', timeoutMs: 20_000 }));
  await inFlightOnServer();
  await cluster.kill(on);
  const err = await inFlight;
  expect(err.code).toBe('CONNECTION_LOST');
  expect(err.retryable).toBe(true);

  const r = await echo('after');
  expect(text(r.reply)).toBe('after');
  expect(serverOf(nc)).not.toBe(on);
  await cluster.restart(on);
});

it("calls resume while each server in turn is killed (the host's own server included)", async () => {
  for (let i = 0; i < cluster.urls.length; i++) {
    await cluster.kill(i);
    const r = await echo(`with server ${i} down`);
    expect(text(r.reply)).toBe(`with server ${i} down`);
    await cluster.restart(i);
  }
});

it('a caller that does not retry on connection loss gets CONNECTION_LOST after one attempt', async () => {
  // the previous test restarted the host's server: until its resubscription has reached the
  // server nc is on, calls get NO_RESPONDERS (retried, and counted as attempts); wait for that
  // state. Bounded at 40 s: in one CI run of four under load it took longer than the 15 s this
  // wait had (the host's reconnect and the restarted server's routes); what is tested starts after
  await callProvider(nc, { namespace: NS, provider: 'faulty-c', op: 'Ok', timeoutMs: 40_000, retry: { retries: 1000 } });
  const on = serverOf(nc);
  const inFlight = callError(
    callProvider(nc, {
      namespace: NS,
      provider: 'faulty-c',
      op: 'Hang',
      timeoutMs: 20_000,
      retry: { retries: 5, onConnectionLoss: false },
    }),
  );
  await inFlightOnServer();
  await cluster.kill(on);
  const err = await inFlight;
  expect([err.code, err.attempts]).toEqual(['CONNECTION_LOST', 1]);
  await cluster.restart(on);
}, 90_000);

function gantry(args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [gantryBin(), ...args], { timeout: 30_000 }, (e, out, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

it('gantry call takes every server of the cluster and --retries: it answers with one server down, and refuses a bad --retries', async () => {
  await cluster.kill(0);
  try {
    const r = await gantry([
      'call',
      '-n',
      NS,
      'echo-c',
      'Echo',
      '--data',
      'cli',
      '--nats',
      cluster.urls.join(','),
      '--creds',
      cluster.adminCreds,
      '--retries',
      '20',
      '--timeout',
      '15000',
      '--json',
    ]);
    expect([r.code, JSON.parse(r.out).reply], r.err).toEqual([0, 'cli']);
  } finally {
    await cluster.restart(0);
  }
  const bad = await gantry([
    'call',
    '-n',
    NS,
    'echo-c',
    'Echo',
    '--nats',
    cluster.urls.join(','),
    '--creds',
    cluster.adminCreds,
    '--retries',
    'many',
  ]);
  expect(bad.code).toBe(2);
  expect(bad.err).toMatch(/--retries must be a whole number/);
});
