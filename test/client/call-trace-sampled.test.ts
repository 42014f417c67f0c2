/**
 * Calls whose trace the caller sampled out (agent/host/call-trace.ts): under a parent-based
 * sampler the host makes no spans for them and times nothing, yet the provider is handed the
 * caller's trace id with flags 00, so the "no" reaches the provider's own spans. Against a real
 * nats-server and the real C echo provider (its TraceContext op answers what it was handed),
 * served by an InstanceServer in this process so host spans land in the test's exporter.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  type Sampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { CallPool as CallPoolType } from '../../agent/host/call-pool.js';
import { NativeProvider } from '../../agent/host/native.js';
import { InstanceServer } from '../../agent/host/serve.js';
import { CallStats } from '../../agent/host/call-stats.js';
import { effectiveLimits, type HostSpec } from '../../agent/host/spec.js';
import { callProvider } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { ANONYMOUS_CALLER, providerSubject } from '../../client/protocol.js';
import { logger } from '../../runtime/log.js';
import { followsUnsampledParent, registerTracing, Spans, startTracing, type Tracing } from '../../runtime/tracing/index.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { buildProviders, NS, providerLib, text } from '../host/helpers.js';

let nats: NatsServer;
let nc: NatsConnection;
let pool: CallPoolType;
let echo: NativeProvider;
let tracing: Tracing | undefined;
let exporter: InMemorySpanExporter;
const servers: InstanceServer[] = [];

beforeAll(async () => {
  buildProviders();
  nats = await startNats();
  nc = await connectNats({ servers: nats.url });
  echo = NativeProvider.load(providerLib('echo'));
  // from dist/: the pool starts its worker threads from the built call-worker.js beside it
  const built = '../../dist/agent/host/call-pool.js';
  const { CallPool } = (await import(built)) as { CallPool: typeof CallPoolType };
  pool = new CallPool(echo.callFunctions(), 2, (e) => {
    throw e;
  });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.drain(1000)));
  await pool?.close();
  await nc?.close();
  await nats?.stop();
});

afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

async function traceWith(sampler: Sampler, parentBased: boolean): Promise<void> {
  exporter = new InMemorySpanExporter();
  tracing = await registerTracing(new TracerProvider({ sampler, spanProcessors: [new SimpleSpanProcessor({ exporter })] }), {
    parentBased,
  });
}
/** Every root dropped, every child following its parent: the 0 % end of parentbased_traceidratio. */
const DROP_ROOTS = () => new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0) });

async function hostHere(provider: string): Promise<string> {
  const spec: HostSpec = {
    libraryPath: providerLib('echo'),
    namespace: NS,
    provider,
    instance: `${provider}-0`,
    nats: { servers: nats.url },
  };
  const s = new InstanceServer(nc, echo, spec, effectiveLimits(spec), logger('call-trace-sampled'), () => {}, pool, new CallStats(false));
  servers.push(s);
  await s.start();
  await nc.flush();
  return `${providerSubject(NS, provider)}.TraceContext.${ANONYMOUS_CALLER}`;
}

/** What the provider was handed, for a request with these trace headers. */
async function handed(subject: string, traceparent: string, tracestate?: string): Promise<{ traceparent: string; tracestate: string }> {
  const h = natsHeaders();
  h.set('traceparent', traceparent);
  if (tracestate !== undefined) h.set('tracestate', tracestate);
  return JSON.parse(text((await nc.request(subject, '', { headers: h, timeout: 5000 })).data));
}

async function exported() {
  await tracing?.flush();
  return exporter.getFinishedSpans();
}

const TRACE = 'ab'.repeat(16);
const SPAN = 'cd'.repeat(8);

describe('a call its caller sampled out, under a parent-based sampler', () => {
  it('callProvider: the request and the provider carry the same traceparent (flags 00); neither side exports a span', async () => {
    await traceWith(DROP_ROOTS(), true);
    const subject = await hostHere('echo-so');
    const request = new Promise<Msg>((resolve) => nc.subscribe(subject, { max: 1, callback: (_e, m) => resolve(m) }));
    await nc.flush();
    const r = await callProvider(nc, { namespace: NS, provider: 'echo-so', op: 'TraceContext' });
    const sent = (await request).headers?.get('traceparent') ?? '';
    expect(sent).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-00$/);
    // no host span exists to be the provider's parent: it gets the caller's context as sent
    expect(JSON.parse(text(r.reply))).toEqual({ traceparent: sent, tracestate: '' });
    expect(await exported()).toEqual([]);
  });

  it("the caller's tracestate reaches the provider, bounded as a host span's is", async () => {
    await traceWith(DROP_ROOTS(), true);
    const subject = await hostHere('echo-ts');
    expect(await handed(subject, `00-${TRACE}-${SPAN}-00`, 'a=1,b=2')).toEqual({
      traceparent: `00-${TRACE}-${SPAN}-00`,
      tracestate: 'a=1,b=2',
    });
    const huge = Array.from({ length: 400 }, (_, i) => `k${i}=${'v'.repeat(30)}`).join(',');
    const kept = (await handed(subject, `00-${TRACE}-${SPAN}-00`, huge)).tracestate;
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(512);
    expect(kept.split(',').length).toBeLessThanOrEqual(32);
    expect(await exported()).toEqual([]);
  });

  it('a later version is handed on as version 00 of its trace id, span id and flags; an invalid one starts a new (here dropped) trace', async () => {
    await traceWith(DROP_ROOTS(), true);
    const subject = await hostHere('echo-ver');
    expect((await handed(subject, `cc-${TRACE}-${SPAN}-00-what-comes-later`)).traceparent).toBe(`00-${TRACE}-${SPAN}-00`);
    // version 00 may have nothing after the flags; an all-zero trace id is no trace id
    for (const forged of [`00-${TRACE}-${SPAN}-00-x`, `00-${'0'.repeat(32)}-${SPAN}-00`, `ff-${TRACE}-${SPAN}-00`]) {
      const got = (await handed(subject, forged)).traceparent;
      expect(got).toMatch(/^00-[\da-f]{32}-[\da-f]{16}-00$/);
      expect(got.slice(3, 35)).not.toBe(TRACE);
      expect(got.slice(3, 35)).not.toBe('0'.repeat(32));
    }
    expect(await exported()).toEqual([]);
  });

  it('a sampled call in the same host still has its whole tree, and the provider gets the host span', async () => {
    await traceWith(DROP_ROOTS(), true);
    const subject = await hostHere('echo-mix');
    await handed(subject, `00-${TRACE}-${SPAN}-00`);
    const got = await handed(subject, `00-${TRACE}-${SPAN}-01`, 'a=1');
    const spans = await exported();
    expect(spans.map((s) => s.name).sort()).toEqual([Spans.hostCall, Spans.hostQueue, Spans.providerCall].sort());
    const host = spans.find((s) => s.name === Spans.hostCall)!;
    expect(host.parentSpanContext).toMatchObject({ traceId: TRACE, spanId: SPAN, isRemote: true });
    expect(got).toEqual({ traceparent: `00-${TRACE}-${host.spanContext().spanId}-01`, tracestate: 'a=1' });
    for (const child of spans.filter((s) => s !== host)) expect(child.parentSpanContext?.spanId).toBe(host.spanContext().spanId);
  });
});

describe('a sampler that does not follow the caller', () => {
  it("always_on records the host's spans of a call the caller sampled out (the host decides itself)", async () => {
    await traceWith(new AlwaysOnSampler(), false);
    const subject = await hostHere('echo-on');
    const got = await handed(subject, `00-${TRACE}-${SPAN}-00`);
    const host = (await exported()).find((s) => s.name === Spans.hostCall);
    expect(host?.parentSpanContext).toMatchObject({ traceId: TRACE, spanId: SPAN });
    expect(got.traceparent).toBe(`00-${TRACE}-${host!.spanContext().spanId}-01`);
  });

  it('startTracing follows the caller only for the parentbased_* samplers', async () => {
    for (const [sampler, follows] of [
      ['parentbased_traceidratio', true],
      ['parentbased_always_on', true],
      ['traceidratio', false],
      ['always_on', false],
    ] as const) {
      tracing = await startTracing('gantry-host', { OTEL_TRACES_EXPORTER: 'console', OTEL_TRACES_SAMPLER: sampler });
      expect([sampler, followsUnsampledParent()]).toEqual([sampler, follows]);
      await tracing.shutdown();
    }
    expect(followsUnsampledParent()).toBe(false);
  });
});
