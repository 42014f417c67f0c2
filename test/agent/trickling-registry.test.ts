/**
 * An agent keeps serving while one instance's archive sits on a registry that trickles
 * (issue 29): a real agent process, a real docker-registry, and a loopback proxy in front of
 * it that passes every answer on at 10 bytes a second. The instance on the proxy stays
 * Fetching while one on the registry itself becomes Running and answers; then the slow one
 * fails at the agent's --registry-deadline (15 s) with REGISTRY_DEADLINE (FetchFailed with
 * the deadline in its message, retried with backoff).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { hostTarget } from '../../agent/target.js';
import { callProvider } from '../../client/call.js';
import { startTricklingProxy, type TricklingProxy } from '../registry/trickling-proxy.js';
import {
  createInstance,
  getInstance,
  isPhase,
  NODE,
  NS,
  providerLibrary,
  publish,
  startWorld,
  stopAgent,
  waitForInstance,
  type World,
  agentArgs,
} from './harness.js';

const target = hostTarget();
let w: World;
let nc: NatsConnection;
let agent: ChildProcess;
let proxy: TricklingProxy;
let cacheDir: string;
let agentLog = '';

beforeAll(async () => {
  w = await startWorld();
  nc = await connect({ servers: w.nats.url });
  proxy = await startTricklingProxy(Number(w.registry.host.split(':')[1]), { bytes: 1, tickMs: 100, from: 'head' });
  cacheDir = mkdtempSync(join(tmpdir(), 'gantry-trickle-agent-'));
  agent = spawn(process.execPath, agentArgs(w, NODE, cacheDir, '--plain-http-registry', proxy.host, '--registry-deadline', '15s'), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' },
  });
  agent.stderr?.on('data', (d) => (agentLog = (agentLog + d).slice(-20_000)));
}, 120_000);

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail') process.stderr.write(`--- gantry agent stderr (last 20 kB) ---\n${agentLog}\n`);
});

afterAll(async () => {
  await stopAgent(agent);
  await proxy?.stop();
  await nc?.close();
  await w?.stop();
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
});

it('an instance on a trickling registry stays Fetching while another becomes Running and serves; it then fails at its deadline (FetchFailed)', async () => {
  const slow = await publish(w, {
    repo: 'echo-trickled',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
  });
  const fast = await publish(w, {
    repo: 'echo-direct',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
  });
  const slowRef = slow.ref.replace(w.registry.host, proxy.host);
  const started = Date.now();
  await createInstance(w, {
    name: 'echo-trickled-0',
    provider: 'echo-trickled',
    ref: slowRef,
    digest: slow.digest,
    target,
    capid: 'gantry:echo',
  });
  await waitForInstance(w, 'echo-trickled-0', isPhase('Fetching'));
  await createInstance(w, {
    name: 'echo-direct-0',
    provider: 'echo-direct',
    ref: fast.ref,
    digest: fast.digest,
    target,
    capid: 'gantry:echo',
  });
  await waitForInstance(w, 'echo-direct-0', isPhase('Running'));
  const reply = await callProvider(nc, { namespace: NS, provider: 'echo-direct', op: 'Echo', data: 'still here', timeoutMs: 5000 });
  expect(new TextDecoder().decode(reply.reply)).toBe('still here');
  // meanwhile the trickled one has got nowhere, and has not failed either (its deadline is 15 s)
  const stuck = await getInstance(w, 'echo-trickled-0');
  expect(stuck.status.phase).toBe('Fetching');
  expect(stuck.status.reason).toBe('Pulling');
  expect(Date.now() - started).toBeLessThan(15_000);
  const failed = await waitForInstance(w, 'echo-trickled-0', (i) => i?.status?.reason === 'FetchFailed', 40_000);
  expect(failed.status.reason).toBe('FetchFailed');
  expect(failed.status.phase).toBe('Fetching'); // retried, as for a registry that is down
  expect(failed.status.message).toMatch(/did not finish within the 15000 ms deadline \(0 bytes moved\).*\(retrying in \d+ s\)/);
  expect((await getInstance(w, 'echo-direct-0')).status.phase).toBe('Running');
}, 90_000);
