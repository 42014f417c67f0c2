/**
 * Traces on the call path (docs/protocol.md "Trace context"), against a real nats-server
 * (without the membrane, so the test can read every request with a subscription of its own)
 * and the real C providers:
 *   - the caller: callProvider makes one `gantry.call` span (CLIENT) for the whole call, retries
 *     included, and each request carries its W3C traceparent; a failed call's span is ERROR
 *     with its code. Against a host process, which traces nothing here (no OTEL_* in its env).
 *   - the host: an InstanceServer run in this process (as test/host/health.test.ts runs the
 *     call pool), so its spans land in the same in-memory exporter: `gantry.host.call` is the
 *     caller span's child, with `gantry.host.queue` and `gantry.provider.call` under it; calls
 *     refused before the pool get a host span with their code too.
 *   - off: no span, no traceparent header.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { CallPool as CallPoolType } from '../../agent/host/call-pool.js';
import { NativeProvider } from '../../agent/host/native.js';
import { InstanceServer } from '../../agent/host/serve.js';
import { CallStats } from '../../agent/host/call-stats.js';
import { effectiveLimits, type HostLimits, type HostSpec } from '../../agent/host/spec.js';
import { callProvider } from '../../client/call.js';
import { CALL_ATTRS, CALL_SPAN } from '../../client/trace.js';
import { connectNats } from '../../client/nats.js';
import { ANONYMOUS_CALLER, providerSubject } from '../../client/protocol.js';
import { logger } from '../../runtime/log.js';
import { gantryBin } from '../../runtime/paths.js';
import { Attrs, registerTracing, Spans, type Tracing, tracingEnabled } from '../../runtime/tracing/index.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { buildProviders, callError, makeHost, NS, providerLib, stopAllHosts, text } from '../host/helpers.js';

const run = promisify(execFile);
let nats: NatsServer;
let nc: NatsConnection;
let exporter: InMemorySpanExporter;
let tracing: Tracing | undefined;
let pool: CallPoolType;
let echo: NativeProvider;
const inProcess: InstanceServer[] = [];

beforeAll(async () => {
  buildProviders();
  nats = await startNats();
  nc = await connectNats({ servers: nats.url });
  await makeHost(nats.url, { provider: 'echo-p', instance: 'echo-p-0' }).start();
  echo = NativeProvider.load(providerLib('echo'));
  // from dist/: the pool starts its worker threads from the built call-worker.js beside it
  const built = '../../dist/agent/host/call-pool.js';
  const { CallPool } = (await import(built)) as { CallPool: typeof CallPoolType };
  pool = new CallPool(echo.callFunctions(), 2, (e) => {
    throw e;
  });
});

afterAll(async () => {
  await Promise.all(inProcess.map((s) => s.drain(1000)));
  await pool?.close();
  await stopAllHosts();
  await nc?.close();
  await nats?.stop();
});

// every test starts with an empty exporter, traced; the off test shuts tracing down itself
beforeEach(async () => {
  exporter = new InMemorySpanExporter();
  tracing = await registerTracing(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
});
afterEach(async () => {
  await tracing?.shutdown();
});

async function finished(): Promise<ReadableSpan[]> {
  await tracing?.flush();
  return exporter.getFinishedSpans();
}
const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const one = (spans: ReadableSpan[], name: string): ReadableSpan => {
  const found = named(spans, name);
  expect(found.map((s) => s.name)).toEqual([name]);
  return found[0]!;
};
/** The epoch ms of a span time. */
const ms = ([s, ns]: [number, number]) => s * 1000 + ns / 1e6;

/** The next request on a provider's subjects, as the test's own subscription sees it. */
function nextRequest(provider: string): Promise<Msg> {
  return new Promise((resolve) => {
    nc.subscribe(`${providerSubject(NS, provider)}.>`, { max: 1, callback: (_err, msg) => resolve(msg) });
  });
}

/** An InstanceServer of the echo library in this process, on the test's server. */
async function hostHere(provider: string, limits: HostLimits = {}): Promise<InstanceServer> {
  const spec: HostSpec = {
    libraryPath: providerLib('echo'),
    namespace: NS,
    provider,
    instance: `${provider}-0`,
    nats: { servers: nats.url },
    limits,
  };
  const s = new InstanceServer(nc, echo, spec, effectiveLimits(spec), logger('call-trace-test'), () => {}, pool, new CallStats(false));
  inProcess.push(s);
  await s.start();
  return s;
}

describe('the caller', () => {
  it('one CLIENT span for a call, and the request carries its traceparent', async () => {
    expect(tracingEnabled()).toBe(true);
    const seen = nextRequest('echo-p');
    await nc.flush();
    const r = await callProvider(nc, { namespace: NS, provider: 'echo-p', op: 'Echo', data: 'traced' });
    expect(text(r.reply)).toBe('traced');
    const span = one(await finished(), CALL_SPAN);
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.attributes).toEqual({
      'gantry.namespace': NS,
      'gantry.provider': 'echo-p',
      'gantry.operation': 'Echo',
      'gantry.instance': 'echo-p-0',
      'gantry.call.attempts': 1,
      'messaging.system': 'nats',
      'messaging.destination.name': `${providerSubject(NS, 'echo-p')}.Echo.${ANONYMOUS_CALLER}`,
    });
    const { traceId, spanId } = span.spanContext();
    const req = await seen;
    expect(req.subject).toBe(`${providerSubject(NS, 'echo-p')}.Echo.${ANONYMOUS_CALLER}`);
    expect(req.headers?.get('traceparent')).toBe(`00-${traceId}-${spanId}-01`);
  });

  it("a provider's error: the span is ERROR with PROVIDER_ERROR and the provider's own code", async () => {
    const err = await callError(callProvider(nc, { namespace: NS, provider: 'echo-p', op: 'Nope' }));
    expect(err.code).toBe('PROVIDER_ERROR');
    const span = one(await finished(), CALL_SPAN);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'PROVIDER_ERROR' });
    expect(span.attributes[CALL_ATTRS.callCode]).toBe('PROVIDER_ERROR');
    expect(span.attributes[CALL_ATTRS.providerCode]).toBe(3); // GANTRY_ERR_UNKNOWN_OP
    expect(span.attributes[CALL_ATTRS.instance]).toBe('echo-p-0');
  });

  it('retries are one span: every attempt sends the same traceparent, and the span counts them', async () => {
    const parents: string[] = [];
    const sub = nc.subscribe(`${providerSubject(NS, 'busy')}.>`, {
      callback: (_err, msg) => {
        parents.push(msg.headers?.get('traceparent') ?? '');
      },
    });
    await hostHere('busy', { maxInFlight: 0 }); // refuses every call OVERLOADED at admission
    await nc.flush();
    const err = await callError(
      callProvider(nc, { namespace: NS, provider: 'busy', op: 'Echo', retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 2 } }),
    );
    sub.unsubscribe();
    expect([err.code, err.attempts]).toEqual(['OVERLOADED', 3]);
    const span = one(await finished(), CALL_SPAN);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'OVERLOADED' });
    expect(span.attributes[CALL_ATTRS.callCode]).toBe('OVERLOADED');
    expect(span.attributes[CALL_ATTRS.attempts]).toBe(3);
    const { traceId, spanId } = span.spanContext();
    expect(parents).toEqual(Array(3).fill(`00-${traceId}-${spanId}-01`));
  });

  it('a call that cannot be addressed still leaves its span, ERROR with BAD_TARGET', async () => {
    const err = await callError(callProvider(nc, { namespace: NS, op: 'Echo' }));
    expect(err.code).toBe('BAD_TARGET');
    const span = one(await finished(), CALL_SPAN);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'BAD_TARGET' });
    expect(span.attributes['messaging.destination.name']).toBeUndefined();
  });

  it('with tracing off: no span, and no traceparent or tracestate header', async () => {
    await tracing?.shutdown();
    tracing = undefined;
    expect(tracingEnabled()).toBe(false);
    const seen = nextRequest('echo-p');
    await nc.flush();
    expect(text((await callProvider(nc, { namespace: NS, provider: 'echo-p', op: 'Echo', data: 'dark' })).reply)).toBe('dark');
    const req = await seen;
    expect(req.headers?.has('traceparent')).toBe(false);
    expect(req.headers?.has('tracestate')).toBe(false);
    expect(req.headers?.get('Gantry-Timeout-Ms')).toMatch(/^\d+$/); // the headers themselves were read
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

describe('gantry call', () => {
  const gantryCall = (env: Record<string, string>, ...args: string[]) =>
    run(process.execPath, [gantryBin(), 'call', '-n', NS, 'echo-p', 'Echo', '--nats', nats.url, ...args], {
      env: { ...process.env, GANTRY_LOG_LEVEL: 'error', ...env },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  it('traces when OTEL_* asks (its request carries a traceparent) and answers even when the collector is unreachable', async () => {
    const seen = nextRequest('echo-p');
    await nc.flush();
    const r = await gantryCall({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }, '--data', 'from the cli');
    expect([r.code, r.stdout]).toEqual([0, 'from the cli\n']);
    expect((await seen).headers?.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('a failed call still exits 1 with its code when traced', async () => {
    const r = await run(process.execPath, [gantryBin(), 'call', '-n', NS, 'echo-p', 'Nope', '--nats', nats.url, '--json'], {
      env: { ...process.env, GANTRY_LOG_LEVEL: 'error', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' },
    }).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: 'PROVIDER_ERROR', instance: 'echo-p-0' });
  });

  it('an OTEL_* value it cannot honour is a usage error naming the variable, and nothing is sent', async () => {
    let sent = 0;
    const sub = nc.subscribe(`${providerSubject(NS, 'echo-p')}.>`, {
      callback: () => {
        sent++;
      },
    });
    const r = await gantryCall({ OTEL_TRACES_EXPORTER: 'zipkin' }, '--data', 'never');
    await nc.flush();
    sub.unsubscribe();
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('gantry: OTEL_TRACES_EXPORTER: "zipkin" is not an exporter Gantry has; use otlp, console or none');
    expect(sent).toBe(0);
  });
});

describe('the host (in this process)', () => {
  it('gantry.host.call is the caller span’s child; its queue and provider call sit under it, in order', async () => {
    await hostHere('echo-h');
    await nc.flush();
    const r = await callProvider(nc, { namespace: NS, provider: 'echo-h', op: 'Echo', data: 'deep' });
    expect(text(r.reply)).toBe('deep');
    const spans = await finished();
    const call = one(spans, CALL_SPAN);
    const host = one(spans, Spans.hostCall);
    expect(host.kind).toBe(SpanKind.SERVER);
    expect(host.spanContext().traceId).toBe(call.spanContext().traceId);
    expect(host.parentSpanContext?.spanId).toBe(call.spanContext().spanId);
    expect(host.parentSpanContext?.isRemote).toBe(true);
    expect(host.status.code).toBe(SpanStatusCode.UNSET);
    expect(host.attributes).toMatchObject({
      [Attrs.namespace]: NS,
      [Attrs.provider]: 'echo-h',
      [Attrs.instance]: 'echo-h-0',
      [Attrs.operation]: 'Echo',
    });
    const queue = one(spans, Spans.hostQueue);
    const native = one(spans, Spans.providerCall);
    for (const child of [queue, native]) {
      expect(child.spanContext().traceId).toBe(call.spanContext().traceId);
      expect(child.parentSpanContext?.spanId).toBe(host.spanContext().spanId);
    }
    expect(native.attributes[Attrs.providerCode]).toBe(0);
    // the queue runs from the host span's start to the native call's start, which ends before the host span
    expect(ms(queue.startTime)).toBe(ms(host.startTime));
    expect(ms(queue.endTime)).toBe(Math.max(ms(host.startTime), ms(native.startTime)));
    expect(ms(native.endTime)).toBeLessThanOrEqual(ms(host.endTime));
  });

  it("a provider's error: host span ERROR PROVIDER_ERROR, the provider call carries its code", async () => {
    await hostHere('echo-e');
    await nc.flush();
    expect((await callError(callProvider(nc, { namespace: NS, provider: 'echo-e', op: 'Nope' }))).code).toBe('PROVIDER_ERROR');
    const spans = await finished();
    const host = one(spans, Spans.hostCall);
    expect(host.status).toEqual({ code: SpanStatusCode.ERROR, message: 'PROVIDER_ERROR' });
    expect(host.attributes[Attrs.callCode]).toBe('PROVIDER_ERROR');
    expect(host.attributes[Attrs.providerCode]).toBe(3);
    const native = one(spans, Spans.providerCall);
    expect(native.attributes[Attrs.providerCode]).toBe(3);
    expect(native.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('calls refused before the pool get a host span with their code, and no queue or provider call', async () => {
    await hostHere('echo-small', { maxPayloadBytes: 4 });
    await nc.flush();
    const big = await callError(callProvider(nc, { namespace: NS, provider: 'echo-small', op: 'Echo', data: 'too large' }));
    expect(big.code).toBe('PAYLOAD_TOO_LARGE');
    await hostHere('busy-h', { maxInFlight: 0 });
    await nc.flush();
    const over = await callError(callProvider(nc, { namespace: NS, provider: 'busy-h', op: 'Echo' }));
    expect(over.code).toBe('OVERLOADED');
    const spans = await finished();
    const hosts = named(spans, Spans.hostCall);
    expect(hosts.map((s) => [s.attributes[Attrs.provider], s.status.message, s.attributes[Attrs.callCode]])).toEqual([
      ['echo-small', 'PAYLOAD_TOO_LARGE', 'PAYLOAD_TOO_LARGE'],
      ['busy-h', 'OVERLOADED', 'OVERLOADED'],
    ]);
    const calls = named(spans, CALL_SPAN);
    for (const [i, h] of hosts.entries()) expect(h.parentSpanContext?.spanId).toBe(calls[i]!.spanContext().spanId);
    expect(named(spans, Spans.hostQueue)).toEqual([]);
    expect(named(spans, Spans.providerCall)).toEqual([]);
  });

  it('a caller’s headers only parent the host span: a forged traceparent starts a new trace, a huge tracestate is cut to the W3C bound', async () => {
    await hostHere('echo-forged');
    await nc.flush();
    const subject = `${providerSubject(NS, 'echo-forged')}.Echo.${ANONYMOUS_CALLER}`;
    const forged = natsHeaders();
    forged.set('traceparent', '00-not-a-trace-context-01');
    forged.set('tracestate', 'x=y');
    expect(text((await nc.request(subject, 'a', { headers: forged, timeout: 5000 })).data)).toBe('a');
    const huge = natsHeaders();
    const parent = { traceId: 'ab'.repeat(16), spanId: 'cd'.repeat(8) };
    huge.set('traceparent', `00-${parent.traceId}-${parent.spanId}-01`);
    huge.set('tracestate', Array.from({ length: 400 }, (_, i) => `k${i}=${'v'.repeat(30)}`).join(','));
    expect(text((await nc.request(subject, 'b', { headers: huge, timeout: 5000 })).data)).toBe('b');
    const [first, second] = named(await finished(), Spans.hostCall);
    expect(first!.parentSpanContext).toBeUndefined();
    expect(first!.spanContext().traceState).toBeUndefined();
    expect(second!.parentSpanContext).toMatchObject({ ...parent, isRemote: true });
    const kept = second!.spanContext().traceState?.serialize() ?? '';
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(512);
    expect(kept.split(',').length).toBeLessThanOrEqual(32);
  });
});

it("client/trace.ts's names are runtime/tracing's (client/ may not import them)", () => {
  expect(CALL_SPAN).toBe(Spans.call);
  for (const [k, v] of Object.entries(CALL_ATTRS)) expect(v).toBe(Attrs[k as keyof typeof Attrs]);
});
