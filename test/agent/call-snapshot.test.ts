/**
 * A host's `calls` message is the word of a process running native provider code: the agent
 * counts it only when its shape and ranges hold, never lets it mint more labels than the cap,
 * and never lets a counter go backwards (agent/call-snapshot.ts, agent/call-metrics.ts). Each
 * attack is refused with its own reason and changes nothing on /metrics. The snapshots come in
 * through the ProviderHost's 'calls' event, the one way they reach the agent; a real host cannot
 * be made to send these, so an EventEmitter with a host's spec stands in for it.
 */
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ProviderCallMetrics } from '../../agent/call-metrics.js';
import { checkCallsSnapshot, wentBackwards } from '../../agent/call-snapshot.js';
import { CALL_CODES, type CallsSnapshot, emptyFigures, LATENCY_BUCKETS, MAX_OPERATIONS } from '../../agent/host/call-stats.js';
import { sample, series } from '../support/prometheus.js';

const OK = CALL_CODES.indexOf('OK');

function snapshot(ops: Record<string, number>, startedAt = 1000): CallsSnapshot {
  const s: CallsSnapshot = { startedAt, inFlight: 0, busyMs: 0, calls: 0, overloaded: 0, ops: {} };
  for (const [op, n] of Object.entries(ops)) {
    const f = emptyFigures();
    f.counts[OK] = n;
    f.buckets[0] = n;
    f.sum = n * 0.0001;
    s.ops[op] = f;
    s.calls += n;
  }
  return s;
}

describe('checkCallsSnapshot', () => {
  it('takes a well-formed snapshot, zeros and a 64-character name included', () => {
    const s = snapshot({ Echo: 3, other: 0, ['x'.repeat(64)]: 1 });
    expect(s.ops.other.sum).toBe(0);
    expect(checkCallsSnapshot(s)).toBe(s);
  });

  it.each<[string, (s: any) => unknown, RegExp]>([
    ['not an object', () => 'calls', /^not an object$/],
    ['an array', () => [], /^not an object$/],
    ['a negative count', (s) => ({ ...s, calls: -1 }), /^calls is not a whole number ≥ 0$/],
    ['a fractional in-flight', (s) => ({ ...s, inFlight: 0.5 }), /^inFlight is not a whole number ≥ 0$/],
    ['startedAt missing', (s) => ({ ...s, startedAt: undefined }), /^startedAt is not/],
    ['busyMs infinite', (s) => ({ ...s, busyMs: Infinity }), /^busyMs is not/],
    ['overloaded a string', (s) => ({ ...s, overloaded: '1' }), /^overloaded is not/],
    ['ops an array', (s) => ({ ...s, ops: [] }), /^ops is not an object$/],
    ['ops missing', (s) => ({ ...s, ops: null }), /^ops is not an object$/],
    ['ops a number', (s) => ({ ...s, ops: 7 }), /^ops is not an object$/],
    ['an empty operation name', (s) => ({ ...s, ops: { '': emptyFigures() } }), /^operation name of 0 characters$/],
    ['a 65-character operation name', (s) => ({ ...s, ops: { ['x'.repeat(65)]: emptyFigures() } }), /^operation name of 65 characters$/],
    ['a count array too short', (s) => ({ ...s, ops: { Echo: { ...emptyFigures(), counts: [1] } } }), /^operation "Echo": counts is not 8/],
    [
      'one negative count',
      (s) => ({ ...s, ops: { Echo: { ...emptyFigures(), counts: CALL_CODES.map((_, i) => (i === 2 ? -1 : 1)) } } }),
      /counts is not/,
    ],
    [
      'a bucket array too long',
      (s) => ({ ...s, ops: { Echo: { ...emptyFigures(), buckets: [...LATENCY_BUCKETS, 1, 1].map(() => 0) } } }),
      /buckets is not 15/,
    ],
    [
      'one NaN bucket',
      (s) => ({ ...s, ops: { Echo: { ...emptyFigures(), buckets: emptyFigures().buckets.map((_, i) => (i === 1 ? Number.NaN : 0)) } } }),
      /buckets is not/,
    ],
    ['an infinite sum', (s) => ({ ...s, ops: { Echo: { ...emptyFigures(), sum: Infinity } } }), /^operation "Echo": sum is not/],
    ['a negative sum', (s) => ({ ...s, ops: { Echo: { ...emptyFigures(), sum: -1 } } }), /^operation "Echo": sum is not/],
    ['figures not an object', (s) => ({ ...s, ops: { Echo: 7 } }), /^operation "Echo": not an object$/],
  ])('refuses %s', (_what, mutate, reason) => {
    expect(checkCallsSnapshot(mutate(snapshot({ Echo: 1 })))).toMatch(reason);
  });

  it(`refuses more than ${MAX_OPERATIONS} operation names, \`other\` aside`, () => {
    const at = Object.fromEntries(Array.from({ length: MAX_OPERATIONS }, (_, i) => [`op${i}`, 1]));
    expect(typeof checkCallsSnapshot(snapshot({ ...at, other: 1 }))).toBe('object');
    expect(checkCallsSnapshot(snapshot({ ...at, one_more: 1 }))).toBe(
      `${MAX_OPERATIONS + 1} operations, over the limit of ${MAX_OPERATIONS}`,
    );
  });

  it('names what went backwards within one incarnation', () => {
    expect(wentBackwards(snapshot({ Echo: 3 }), snapshot({ Echo: 4 }))).toBeUndefined();
    expect(wentBackwards(snapshot({ Echo: 3 }), snapshot({ Echo: 2, X: 1 }))).toBe('operation "Echo"');
    expect(wentBackwards(snapshot({ Echo: 3 }), snapshot({ Other: 9 }))).toBe('operation "Echo" disappeared');
    expect(wentBackwards(snapshot({ Echo: 3 }), { ...snapshot({ Echo: 3 }), calls: 2 })).toBe('calls');
    // each figure alone: a count, a bucket, the sum
    const fewerCounts = snapshot({ Echo: 3 });
    fewerCounts.ops.Echo.counts[OK] = 2;
    expect(wentBackwards(snapshot({ Echo: 3 }), fewerCounts)).toBe('operation "Echo"');
    const fewerInBucket = snapshot({ Echo: 3 });
    fewerInBucket.ops.Echo.buckets[0] = 2;
    expect(wentBackwards(snapshot({ Echo: 3 }), fewerInBucket)).toBe('operation "Echo"');
    const lessSum = snapshot({ Echo: 3 });
    lessSum.ops.Echo.sum = 0;
    expect(wentBackwards(snapshot({ Echo: 3 }), lessSum)).toBe('operation "Echo"');
  });
});

describe('ProviderCallMetrics', () => {
  function world() {
    const registry = new Registry();
    const metrics = new ProviderCallMetrics(registry);
    const host = (instance: string, provider = 'p') => {
      const h = Object.assign(new EventEmitter(), { spec: { namespace: 'ns', provider, instance } });
      metrics.watch(h);
      return h;
    };
    const ok = async (operation: string, provider = 'p') =>
      sample(await registry.metrics(), 'gantry_provider_calls_total', { namespace: 'ns', provider, operation, code: 'OK' });
    return { registry, host, ok };
  }

  it('sums a Provider over its hosts and keeps what a crashed incarnation counted', async () => {
    const { registry, host, ok } = world();
    const a = host('a');
    const b = host('b');
    a.emit('calls', snapshot({ Echo: 3 }));
    b.emit('calls', snapshot({ Echo: 4 }));
    expect(await ok('Echo')).toBe(7);
    a.emit('crash', {});
    expect(await ok('Echo')).toBe(7);
    a.emit('calls', snapshot({ Echo: 1 }, 2000)); // the next incarnation counts from 0
    expect(await ok('Echo')).toBe(8);
    // a new startedAt without a crash seen is a new incarnation too
    b.emit('calls', snapshot({ Echo: 2 }, 3000));
    expect(await ok('Echo')).toBe(10);
    // the histogram adds up alike (each call 0.1 ms in the first bucket)
    const text = await registry.metrics();
    const labels = { namespace: 'ns', provider: 'p', operation: 'Echo' };
    expect(sample(text, 'gantry_provider_call_duration_seconds_sum', labels)).toBeCloseTo(0.001);
    expect(sample(text, 'gantry_provider_call_duration_seconds_bucket', { ...labels, le: '0.0005' })).toBe(10);
    // another Provider is a series of its own
    host('c', 'q').emit('calls', snapshot({ Echo: 1 }));
    expect(await ok('Echo', 'q')).toBe(1);
    expect(await ok('Echo')).toBe(10);
  });

  it('keeps a stopped host in its Provider totals, and ignores what it says after', async () => {
    const { host, ok } = world();
    const a = host('a');
    a.emit('calls', snapshot({ Echo: 3 }));
    a.emit('stopped');
    expect(await ok('Echo')).toBe(3);
    a.emit('calls', snapshot({ Echo: 5 }));
    expect(await ok('Echo')).toBe(3);
    const f = host('f');
    f.emit('calls', snapshot({ Echo: 2 }));
    f.emit('failed', new Error('x'));
    expect(await ok('Echo')).toBe(5);
    f.emit('calls', snapshot({ Echo: 7 }));
    expect(await ok('Echo')).toBe(5);
  });

  it('refuses a snapshot whose counts go backwards, and a late one of an ended incarnation', async () => {
    const { host, ok } = world();
    const a = host('a');
    a.emit('calls', snapshot({ Echo: 5 }));
    a.emit('calls', snapshot({ Echo: 1 })); // same incarnation, fewer: refused
    expect(await ok('Echo')).toBe(5);
    a.emit('crash', {});
    a.emit('calls', snapshot({ Echo: 9 }, 1000)); // the ended incarnation speaking late
    expect(await ok('Echo')).toBe(5);
    a.emit('calls', { ...snapshot({ Echo: 1 }, 2000), calls: -1 }); // malformed: refused
    expect(await ok('Echo')).toBe(5);
  });

  it(`admits at most ${MAX_OPERATIONS} operation labels per Provider over all its hosts, the rest as other, for good`, async () => {
    const { registry, host, ok } = world();
    const a = host('a');
    const b = host('b');
    const first = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`a${i}`, 1]));
    const second = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`b${i}`, 1]));
    a.emit('calls', snapshot({ ...first, other: 1 })); // `other` takes no label of the 32
    b.emit('calls', snapshot(second));
    const ops = new Set(series(await registry.metrics(), 'gantry_provider_calls_total', { code: 'OK' }).map((s) => s.labels.operation));
    expect(ops.size).toBe(MAX_OPERATIONS + 1);
    expect(await ok('other')).toBe(9);
    // b19 was not admitted: it stays in other even once labels would have room elsewhere
    b.emit('calls', snapshot({ ...second, b19: 5 }));
    expect(await ok('b19')).toBeUndefined();
    expect(await ok('other')).toBe(13);
  });

  it('exports a cumulative histogram and the in-flight gauge', async () => {
    const { registry, host } = world();
    const a = host('a');
    const s = snapshot({ Echo: 2 });
    s.ops.Echo.buckets[3] = 1; // one more call in the 5 ms bucket
    s.ops.Echo.counts[OK] = 3;
    s.inFlight = 4;
    a.emit('calls', s);
    const text = await registry.metrics();
    const labels = { namespace: 'ns', provider: 'p', operation: 'Echo' };
    expect(text).toContain('# TYPE gantry_provider_call_duration_seconds histogram');
    expect(text).toContain('# TYPE gantry_provider_calls_total counter');
    expect(sample(text, 'gantry_provider_call_duration_seconds_bucket', { ...labels, le: '0.0005' })).toBe(2);
    expect(sample(text, 'gantry_provider_call_duration_seconds_bucket', { ...labels, le: '0.0025' })).toBe(2);
    expect(sample(text, 'gantry_provider_call_duration_seconds_bucket', { ...labels, le: '0.005' })).toBe(3);
    expect(sample(text, 'gantry_provider_call_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(3);
    expect(sample(text, 'gantry_provider_call_duration_seconds_count', labels)).toBe(3);
    expect(sample(text, 'gantry_provider_call_duration_seconds_sum', labels)).toBeCloseTo(0.0002);
    expect(sample(text, 'gantry_provider_calls_in_flight', { namespace: 'ns', provider: 'p' })).toBe(4);
    a.emit('crash', {});
    expect(sample(await registry.metrics(), 'gantry_provider_calls_in_flight', { namespace: 'ns', provider: 'p' })).toBe(0);
  });
});
