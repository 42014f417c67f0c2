/**
 * Per-instance limits (ProviderInstance spec.resources, copied from the Provider) enforced by
 * a real agent process for real host processes of the `faulty` provider: a host that leaks
 * past its memory limit is killed and reported OOMKilled, restarted with backoff, while its
 * neighbour on the node keeps serving; maxInFlight and callTimeout reach the host.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callProvider, type CallError } from '../../client/call.js';
import { hostTarget } from '../../agent/target.js';
import {
  createInstance,
  isPhase,
  NS,
  providerLibrary,
  publish,
  startAgentWorld,
  type AgentWorld,
  waitForInstance,
  type World,
} from './harness.js';

const target = hostTarget();
let w: World;
let nc: NatsConnection;
let world: AgentWorld | undefined;
let faulty: { ref: string; digest: string };

beforeAll(async () => {
  world = await startAgentWorld('limits', '--host-pool', '1');
  ({ w, nc } = world);
  faulty = await publish(w, {
    repo: 'faulty-limits',
    capid: 'gantry:faulty',
    binaries: { [target]: providerLibrary('faulty') },
    issuerSeed: w.issuerSeed,
  });
}, 120_000);

afterAll(() => world?.stop());

const call = (instance: string, op: string, data = '', timeoutMs = 5000) =>
  callProvider(nc, { namespace: NS, provider: 'faulty', instance, op, data, timeoutMs });
const callError = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: CallError) => e,
  );

it('a host leaking past resources.memory is killed, reported OOMKilled and restarted; its neighbour keeps serving', async () => {
  await createInstance(w, {
    name: 'leaky-0',
    provider: 'faulty',
    ref: faulty.ref,
    digest: faulty.digest,
    target,
    resources: { memory: '160Mi' },
  });
  await createInstance(w, {
    name: 'steady-0',
    provider: 'faulty',
    ref: faulty.ref,
    digest: faulty.digest,
    target,
    resources: { memory: '160Mi' },
  });
  await waitForInstance(w, 'leaky-0', isPhase('Running'), 60_000);
  await waitForInstance(w, 'steady-0', isPhase('Running'), 60_000);

  // under the limit: fine
  expect(Buffer.from((await call('leaky-0', 'Leak', JSON.stringify({ bytes: 16 * 2 ** 20 }))).reply).toString()).toMatch(/leaked/);
  // past it: the agent kills the host; the caller sees it go
  for (let i = 0; i < 4; i++) {
    const gone = await call('leaky-0', 'Leak', JSON.stringify({ bytes: 64 * 2 ** 20 }), 2000).then(
      () => false,
      () => true,
    );
    if (gone) break;
  }
  // kept in status after the restart (the reason itself shows only during the backoff)
  const oom = await waitForInstance(w, 'leaky-0', (i) => i?.status?.lastTermination?.reason === 'OOMKilled', 20_000);
  expect(oom.status.lastTermination.message).toMatch(/over its memory limit of 160 MiB/);
  expect(oom.status.restartCount).toBeGreaterThanOrEqual(1);

  // the neighbour never noticed
  expect(Buffer.from((await call('steady-0', 'Ok')).reply).toString()).toBe('ok');
  const steady = await waitForInstance(w, 'steady-0', isPhase('Running'));
  expect(steady.status.restartCount ?? 0).toBe(0);

  // restarted with backoff, serving again, and still saying why it last ended
  const back = await waitForInstance(w, 'leaky-0', (i) => isPhase('Running')(i) && i.status.restartCount >= 1, 30_000);
  expect(back.status.lastTermination.reason).toBe('OOMKilled');
  expect(Buffer.from((await call('leaky-0', 'Ok')).reply).toString()).toBe('ok');
});

it('resources.maxInFlight and resources.callTimeout reach the host', async () => {
  await createInstance(w, {
    name: 'narrow-0',
    provider: 'faulty',
    ref: faulty.ref,
    digest: faulty.digest,
    target,
    resources: { maxInFlight: 1, callTimeout: '300ms' },
  });
  await waitForInstance(w, 'narrow-0', isPhase('Running'), 60_000);
  const hang = callError(call('narrow-0', 'Hang', '', 10_000));
  const busy = await callError(call('narrow-0', 'Ok'));
  expect(busy.code).toBe('OVERLOADED');
  const timedOut = await hang;
  // answered by the instance at its own deadline, not by the caller's 10 s one
  expect(timedOut.code).toBe('TIMEOUT');
  expect(timedOut.instance).toBe('narrow-0');
});
