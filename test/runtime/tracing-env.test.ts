/**
 * Tracing in provider host processes (agent/host/main.ts), with real hosts of the echo provider
 * on a real nats-server: the agent's OTEL_* variables reach every host it forks (on the spot and
 * from the pool); a host that traces into an unreachable collector loses spans, never calls; a
 * host whose OTEL_* cannot be honoured fails to start, naming the variable.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NatsConnection } from '@nats-io/transport-node';
import { HostPool, hostThreadpoolSize } from '../../agent/host/pool.js';
import { DEFAULT_LIMITS } from '../../agent/host/spec.js';
import { callProvider } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { buildProviders, makeHost, NS, startError, stopAllHosts, text } from '../host/helpers.js';

let nats: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  buildProviders();
  nats = await startNats();
  nc = await connectNats({ servers: nats.url });
});
afterAll(async () => {
  await stopAllHosts();
  await nc?.close();
  await nats?.stop();
});

function environOf(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}
const otelOf = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('OTEL_')));

/** A TCP port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

it("the agent's OTEL_* variables reach its hosts, forked on the spot and from the pool", async () => {
  // set as an agent started with them has them; none of these turns tracing on
  const agentOtel = { OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test-33', OTEL_TRACES_SAMPLER_ARG: '0.5' };
  Object.assign(process.env, agentOtel);
  const p = new HostPool({ size: 1, threadpoolSize: hostThreadpoolSize(DEFAULT_LIMITS.maxHungCalls), refillDelayMs: 50 });
  try {
    p.start();
    // a warm pooled host, booted with the agent's environment, before the instances claim one
    for (const deadline = Date.now() + 20_000; p.warmCount < 1; await new Promise((r) => setTimeout(r, 20)))
      if (Date.now() > deadline) throw new Error('no warm pooled host within 20 s');
    const pooled = makeHost(nats.url, { provider: 'echo-env', instance: 'echo-env-1' }, { pool: p });
    await pooled.start();
    const direct = makeHost(nats.url, { provider: 'echo-env', instance: 'echo-env-0' });
    await direct.start();
    expect(pooled.startTimings?.pooled).toBe(true);
    for (const h of [direct, pooled]) expect(otelOf(environOf(h.pid!))).toEqual(agentOtel);
  } finally {
    for (const k of Object.keys(agentOtel)) delete process.env[k];
    await p.stop();
  }
});

it('a host tracing into an unreachable collector serves its calls all the same', async () => {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${await closedPort()}`, OTEL_BSP_SCHEDULE_DELAY: '10' };
  const h = makeHost(nats.url, { provider: 'echo-lost', instance: 'echo-lost-0' }, { env });
  await h.start();
  expect(otelOf(environOf(h.pid!))).toEqual(env);
  for (let i = 0; i < 5; i++) {
    const r = await callProvider(nc, { namespace: NS, provider: 'echo-lost', op: 'Echo', data: `call ${i}` });
    expect(text(r.reply)).toBe(`call ${i}`);
  }
  await h.stop();
});

it('a host whose OTEL_* cannot be honoured does not start, and says which variable', async () => {
  const env = { OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: 'sometimes' };
  const err = await startError(makeHost(nats.url, { provider: 'echo-bad', instance: 'echo-bad-0' }, { env }));
  expect(err.code).toBe('BAD_SPEC');
  expect(err.message).toMatch(/^the host's tracing environment: OTEL_TRACES_SAMPLER: "sometimes" is not a sampler Gantry has/);
});
