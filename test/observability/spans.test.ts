/**
 * The spans Gantry's own work makes, recorded in memory: a reconcile and its phases
 * (runtime/toolkit/spans.ts) and an instance's start (agent/start-trace.ts), including the
 * failures the end-to-end trace test (traces.test.ts) does not provoke.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { ProviderInstance } from '../../api/index.js';
import { AttemptClock, StartTrace } from '../../agent/start-trace.js';
import { inSpan, phase, reconcileAttrs } from '../../runtime/toolkit/spans.js';
import { registerTracing, Spans, type Tracing } from '../../runtime/tracing/index.js';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;

beforeAll(async () => {
  tracing = await registerTracing(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }));
});
afterAll(() => tracing.shutdown());
beforeEach(() => exporter.reset());

const spans = () => exporter.getFinishedSpans();
const byName = (name: string) => spans().filter((s) => s.name === name);
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const ms = (t: [number, number]) => t[0] * 1e3 + t[1] / 1e6;

describe('a reconcile as a span with its phases', () => {
  it('nests each phase under the reconcile and names the object', async () => {
    const r = await inSpan(Spans.reconcile, reconcileAttrs('Provider', { namespace: 'ns', name: 'echo' }), async () => {
      await phase('resolve', async () => {});
      return phase('status', () => 42);
    });
    expect(r).toBe(42);
    const [root] = byName('gantry.reconcile');
    expect(root!.attributes).toEqual({ 'gantry.kind': 'Provider', 'gantry.namespace': 'ns', 'gantry.name': 'echo' });
    expect(parentOf(root!)).toBeUndefined();
    for (const p of ['gantry.reconcile.resolve', 'gantry.reconcile.status']) {
      expect(parentOf(byName(p)[0]!)).toBe(root!.spanContext().spanId);
      expect(byName(p)[0]!.status.code).toBe(SpanStatusCode.UNSET);
    }
  });

  it('a failed phase marks it and the reconcile ERROR and rethrows the same error', async () => {
    const boom = new Error('registry said 503');
    const run = inSpan(Spans.reconcile, reconcileAttrs('Provider', { name: 'echo' }), () =>
      phase('resolve', () => {
        throw boom;
      }),
    );
    await expect(run).rejects.toBe(boom);
    for (const name of ['gantry.reconcile', 'gantry.reconcile.resolve']) {
      const [s] = byName(name);
      expect(s!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'registry said 503' });
      expect(s!.events.map((e) => e.name)).toEqual(['exception']);
    }
    expect(byName('gantry.reconcile')[0]!.attributes['gantry.namespace']).toBe('');
  });
});

const instance = {
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'ProviderInstance',
  metadata: { name: 'echo-abc', namespace: 'default' },
  spec: { provider: 'echo', nodeName: 'node-1', archive: { digest: `sha256:${'a'.repeat(64)}`, revision: 2 } },
} as unknown as ProviderInstance;

function attempt(steps: string[]): AttemptClock {
  const clock = new AttemptClock(undefined);
  for (const s of steps) clock.step(s);
  return clock;
}

describe("an instance's start as a trace", () => {
  it('Running: fetch, verify, load and connect under gantry.agent.start, connect as long as the host says', () => {
    const trace = new StartTrace(instance);
    const clock = attempt(['Fetching', 'Verifying', 'Starting', 'Running']);
    trace.running(clock, { pooled: false, totalMs: 5, steps: { load: 0, configure: 0, connect: 0, subscribe: 0 } });
    trace.stopped(); // after the end: nothing more
    const [start] = byName(Spans.agentStart);
    expect(byName(Spans.agentStart)).toHaveLength(1);
    expect(start!.status.code).toBe(SpanStatusCode.UNSET);
    expect(start!.events).toEqual([]);
    expect(start!.attributes).toEqual({
      'gantry.namespace': 'default',
      'gantry.provider': 'echo',
      'gantry.instance': 'echo-abc',
      'gantry.node': 'node-1',
      'gantry.revision': 2,
      'gantry.digest': `sha256:${'a'.repeat(64)}`,
    });
    const children = spans().filter((s) => parentOf(s) === start!.spanContext().spanId);
    expect(children.map((c) => c.name)).toEqual([Spans.agentFetch, Spans.agentVerify, Spans.agentLoad, Spans.agentConnect]);
    const [, , load, connect] = children;
    expect(ms(connect!.startTime)).toBeCloseTo(ms(load!.endTime), 3);
    expect(ms(connect!.endTime)).toBeCloseTo(clock.phases[3]![1], 1); // Running
    expect(ms(children[0]!.startTime)).toBeCloseTo(clock.phases[0]![1], 1); // Fetching
  });

  it('a retryable failure ends its phase ERROR and the start goes on; a final one ends it ERROR with the reason', () => {
    const trace = new StartTrace(instance);
    trace.failed(attempt(['Fetching']), { reason: 'RegistryUnavailable', message: 'connection refused', retryable: true });
    expect(byName(Spans.agentStart)).toEqual([]); // still open
    const fetch1 = byName(Spans.agentFetch)[0]!;
    expect(fetch1.status).toEqual({ code: SpanStatusCode.ERROR, message: 'RegistryUnavailable: connection refused' });

    trace.failed(attempt(['Fetching', 'Verifying']), { reason: 'SignatureInvalid', message: 'bad signature', retryable: false });
    trace.failed(undefined, { reason: 'Later', message: 'after the end', retryable: false });
    const [start] = byName(Spans.agentStart);
    expect(start!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'SignatureInvalid: bad signature' });
    expect(start!.attributes['gantry.reason']).toBe('SignatureInvalid');
    expect(start!.events.map((e) => e.name)).toEqual(['retry', 'exception']);
    const verify = byName(Spans.agentVerify);
    expect(verify).toHaveLength(1);
    expect(verify[0]!.status.code).toBe(SpanStatusCode.ERROR);
    // the second attempt's fetch ended when its verify began, without error
    expect(byName(Spans.agentFetch).map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.UNSET]);
    for (const s of [...byName(Spans.agentFetch), ...verify]) expect(parentOf(s)).toBe(start!.spanContext().spanId);
  });

  it('stopped before it ran: the start ends, unmarked, with a "stopped" event', () => {
    const trace = new StartTrace(instance);
    trace.stopped();
    trace.running(attempt(['Fetching', 'Running']), undefined);
    const [start] = byName(Spans.agentStart);
    expect(byName(Spans.agentStart)).toHaveLength(1);
    expect(start!.status.code).toBe(SpanStatusCode.UNSET);
    expect(start!.events.map((e) => e.name)).toEqual(['stopped']);
    expect(byName(Spans.agentFetch)).toEqual([]);
  });
});
