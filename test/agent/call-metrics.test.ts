/**
 * The calls a node's hosts answer, on its agent's /metrics (agent/call-metrics.ts), against real
 * parts: the agent in this process with --metrics-addr, real hosts of the C `faulty` provider,
 * nats-server, docker-registry and the API server. Each step says what it adds to the counters:
 * N calls add N with their operation and code, a name never answered OK counts as `other`, an
 * OVERLOADED refusal is counted, and a host that crashed and restarted (counting from 0 again)
 * takes nothing back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { callProvider } from '../../client/call.js';
import { startAgent, type Agent } from '../../agent/index.js';
import { hostTarget } from '../../agent/target.js';
import { callError } from '../host/helpers.js';
import { sample, series } from '../support/prometheus.js';
import { createInstance, getInstance, isPhase, NS, providerLibrary, publish, startWorld, waitForInstance, type World } from './harness.js';

const target = hostTarget();
const NODE = 'calls-node';
const PROVIDER = 'counted';
const INSTANCE = 'counted-0';

let w: World;
let nc: NatsConnection;
let agent: Agent | undefined;
let cacheDir: string;

beforeAll(async () => {
  w = await startWorld();
  nc = await connect({ servers: w.nats.url });
  cacheDir = mkdtempSync(join(tmpdir(), 'gantry-call-metrics-'));
  const faulty = await publish(w, {
    repo: 'faulty',
    capid: 'gantry:faulty',
    binaries: { [target]: providerLibrary('faulty') },
    issuerSeed: w.issuerSeed,
  });
  agent = await startAgent({
    kubeConfig: w.agentFor(NODE).kc,
    node: NODE,
    natsUrl: w.nats.url,
    cacheDir,
    trustedIssuers: [w.issuer],
    plainHttpRegistries: [w.registry.host],
    metricsAddr: '127.0.0.1:0',
  });
  // one call at a time, so a second one is refused OVERLOADED while a Hang runs
  await createInstance(w, {
    name: INSTANCE,
    provider: PROVIDER,
    ref: faulty.ref,
    digest: faulty.digest,
    target,
    node: NODE,
    resources: { maxInFlight: 1, callTimeout: '300ms' },
  });
  await waitForInstance(w, INSTANCE, isPhase('Running'), 60_000);
}, 90_000);

afterAll(async () => {
  await agent?.stop();
  await nc?.close();
  await w?.stop();
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
});

const call = (op: string, timeoutMs = 5000) => callProvider(nc, { namespace: NS, provider: PROVIDER, op, timeoutMs });
const calls = (text: string, operation: string, code: string) =>
  sample(text, 'gantry_provider_calls_total', { namespace: NS, provider: PROVIDER, operation, code }) ?? 0;

async function scrape(): Promise<string> {
  const res = await fetch(`${agent!.metricsUrl}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** Scrape until `pred` holds (the hosts report every second); the error shows the last calls_total seen. */
async function scrapeUntil(what: string, pred: (text: string) => boolean, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await scrape();
    if (pred(text)) return text;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `${what}: not seen in ${timeoutMs} ms; calls_total: ${JSON.stringify(series(text, 'gantry_provider_calls_total', { provider: PROVIDER }).filter((s) => s.value > 0))}`,
  );
}

it('N calls add N to calls_total with their operation and code, and N to the latency histogram', async () => {
  const before = await scrape();
  for (let i = 0; i < 5; i++) await call('Ok');
  const after = await scrapeUntil('5 Ok calls', (t) => calls(t, 'Ok', 'OK') === calls(before, 'Ok', 'OK') + 5);
  const labels = { namespace: NS, provider: PROVIDER, operation: 'Ok' };
  expect(sample(after, 'gantry_provider_call_duration_seconds_count', labels)).toBe(5);
  expect(sample(after, 'gantry_provider_call_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(5);
  expect(sample(after, 'gantry_provider_call_duration_seconds_sum', labels)).toBeGreaterThan(0);
  expect(sample(after, 'gantry_provider_calls_in_flight', { namespace: NS, provider: PROVIDER })).toBe(0);
  // never a caller key or an instance in the labels
  for (const s of series(after, 'gantry_provider_calls_total', { provider: PROVIDER }))
    expect(Object.keys(s.labels).sort()).toEqual(['code', 'namespace', 'operation', 'provider']);
});

it('an operation the provider never answered OK counts as `other`, so callers cannot mint labels', async () => {
  const before = await scrape();
  for (const op of ['Error', 'NoSuchOp-1', 'NoSuchOp-2']) expect((await callError(call(op))).code).toBe('PROVIDER_ERROR');
  const after = await scrapeUntil('3 errors', (t) => calls(t, 'other', 'PROVIDER_ERROR') === calls(before, 'other', 'PROVIDER_ERROR') + 3);
  const ops = new Set(series(after, 'gantry_provider_calls_total', { provider: PROVIDER }).map((s) => s.labels.operation));
  expect([...ops].sort()).toEqual(['Ok', 'other']);
});

it('a call refused OVERLOADED and one answered TIMEOUT are counted with their codes', async () => {
  const before = await scrape();
  const hang = callError(call('Hang', 10_000));
  // the Hang holds the one slot until its 300 ms deadline: the Ok is refused
  expect((await callError(call('Ok'))).code).toBe('OVERLOADED');
  expect((await hang).code).toBe('TIMEOUT');
  await scrapeUntil(
    'OVERLOADED and TIMEOUT',
    (t) =>
      calls(t, 'Ok', 'OVERLOADED') === calls(before, 'Ok', 'OVERLOADED') + 1 &&
      calls(t, 'other', 'TIMEOUT') === calls(before, 'other', 'TIMEOUT') + 1,
  );
});

it('a host that crashed and restarted (counting from 0 again) takes nothing back from the counters', async () => {
  const before = await scrape();
  const restarts = (await getInstance(w, INSTANCE)).status?.restartCount ?? 0;
  await callError(call('Segfault', 2000));
  await waitForInstance(w, INSTANCE, (i) => isPhase('Running')(i) && (i.status.restartCount ?? 0) > restarts, 30_000);
  const restarted = await scrape();
  for (const s of series(before, 'gantry_provider_calls_total', { provider: PROVIDER }))
    expect(sample(restarted, 'gantry_provider_calls_total', s.labels), JSON.stringify(s.labels)).toBe(s.value);
  for (let i = 0; i < 2; i++) await call('Ok');
  const after = await scrapeUntil('2 more Ok calls', (t) => calls(t, 'Ok', 'OK') === calls(before, 'Ok', 'OK') + 2);
  expect(calls(after, 'other', 'PROVIDER_ERROR')).toBe(calls(before, 'other', 'PROVIDER_ERROR'));
});
