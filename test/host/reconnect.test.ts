/**
 * A host survives its NATS server going away: when a server is back on the same address, the
 * host reconnects, resubscribes and serves again — same process, no restart.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { startNats, type NatsServer } from '../support/nats.js';
import { requireBinary } from '../support/binaries.js';
import { waitForPort } from '../support/ports.js';
import { callProvider } from '../../client/call.js';
import { NS, buildProviders, makeHost, stopAllHosts, text } from './helpers.js';

let first: NatsServer;
let second: ChildProcess | undefined;

beforeAll(async () => {
  buildProviders();
  first = await startNats();
});

afterAll(async () => {
  await stopAllHosts();
  await first?.stop();
  if (second && second.exitCode === null) {
    const gone = new Promise((r) => second!.once('exit', r));
    second.kill('SIGTERM');
    await gone;
  }
});

async function echoOnce(url: string): Promise<string> {
  const nc = await connect({ servers: url });
  try {
    return text((await callProvider(nc, { namespace: NS, provider: 'echo-re', op: 'Echo', data: 'again', timeoutMs: 2000 })).reply);
  } finally {
    await nc.close();
  }
}

it('reconnects and resubscribes after the NATS server restarts', async () => {
  const host = makeHost(first.url, { provider: 'echo-re', instance: 'echo-re-0' });
  await host.start();
  const pid = host.pid;
  expect(await echoOnce(first.url)).toBe('again');

  await first.stop();
  second = spawn(requireBinary('nats-server', 'nats-server'), ['-a', '127.0.0.1', '-p', String(first.port)], { stdio: 'ignore' });
  await waitForPort(first.port);

  let reply = '';
  const deadline = Date.now() + 20_000;
  for (let i = 0; i < 100 && Date.now() < deadline && reply !== 'again'; i++) {
    reply = await echoOnce(first.url).catch(() => '');
    if (reply !== 'again') await new Promise((r) => setTimeout(r, 200));
  }
  expect(reply).toBe('again');
  expect(host.pid).toBe(pid);
  expect(host.restartCount).toBe(0);
});
