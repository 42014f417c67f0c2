/**
 * Provider health through a real agent (on both API servers): the `health` example provider,
 * signed and pushed, run by a real agent process. Unhealthy: the instance stays Running with
 * Ready=False reason ProviderUnhealthy and the provider's message, and receives no calls;
 * healthy again: Ready=True HostReady and served. failureThreshold failures in a row: the host
 * is restarted, lastTermination LivenessFailed with the message, restartCount up.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
let lib: { ref: string; digest: string };

beforeAll(async () => {
  world = await startAgentWorld('agent-health');
  ({ w, nc } = world);
  lib = await publish(w, {
    repo: 'health',
    capid: 'gantry:health',
    binaries: { [target]: providerLibrary('health') },
    issuerSeed: w.issuerSeed,
  });
}, 120_000);

afterAll(() => world?.stop());

const ready = (i: any) => i?.status?.conditions?.find((c: { type: string }) => c.type === 'Ready');

async function healthInstance(name: string, failureThreshold: number): Promise<string> {
  const file = join(world!.cacheDir, name);
  writeFileSync(file, '');
  await createInstance(w, {
    name,
    provider: 'health',
    ref: lib.ref,
    digest: lib.digest,
    target,
    config: { health_file: file },
    health: { periodSeconds: 1, timeoutSeconds: 1, failureThreshold },
  });
  await waitForInstance(w, name, isPhase('Running'), 60_000);
  return file;
}

it('an unhealthy instance is Running but Ready=False ProviderUnhealthy and gets no calls; healthy again, Ready and served', async () => {
  const file = await healthInstance('sick-0', 1000);
  writeFileSync(file, 'upstream down');
  const sick = await waitForInstance(w, 'sick-0', (i) => ready(i)?.reason === 'ProviderUnhealthy', 20_000);
  expect(sick.status.phase).toBe('Running');
  expect(ready(sick)).toMatchObject({ status: 'False', message: 'the provider reports itself unhealthy: upstream down' });
  const e = await callProvider(nc, { namespace: NS, provider: 'health', instance: 'sick-0', op: 'Echo', timeoutMs: 2000 }).then(
    () => undefined,
    (err: CallError) => err,
  );
  expect(e?.code).toBe('NO_RESPONDERS');

  writeFileSync(file, '');
  const well = await waitForInstance(w, 'sick-0', (i) => ready(i)?.status === 'True', 20_000);
  expect(well.status).toMatchObject({ phase: 'Running', reason: 'HostReady', restartCount: 0 });
  const r = await callProvider(nc, { namespace: NS, provider: 'health', instance: 'sick-0', op: 'Echo', data: 'back' });
  expect(Buffer.from(r.reply).toString()).toBe('back');
});

it('failureThreshold failures in a row restart the host: lastTermination LivenessFailed, restartCount up', async () => {
  const file = await healthInstance('dying-0', 2);
  writeFileSync(file, 'deadlocked');
  const died = await waitForInstance(w, 'dying-0', (i) => i?.status?.lastTermination?.reason === 'LivenessFailed', 30_000);
  expect(died.status.lastTermination.message).toBe('2 health checks failed in a row; the last: deadlocked');
  writeFileSync(file, '');
  const back = await waitForInstance(
    w,
    'dying-0',
    (i) => isPhase('Running')(i) && ready(i)?.status === 'True' && i.status.restartCount >= 1,
    30_000,
  );
  expect(back.status.lastTermination.reason).toBe('LivenessFailed');
});
