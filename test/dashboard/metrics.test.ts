/** The Prometheus text parser and the call figures computed from two scrapes (pure). */
import { describe, expect, it } from 'vitest';
import { callFigures, histogramQuantile, type Scrape } from '../../dashboard/calls.js';
import { parsePrometheusText, parseSampleLine, type Sample } from '../../dashboard/prometheus.js';

describe('Prometheus text parser', () => {
  it('reads counters, gauges and histogram lines, skipping HELP/TYPE comments and blank lines', () => {
    const r = parsePrometheusText(
      [
        '# HELP gantry_provider_calls_total Calls',
        '# TYPE gantry_provider_calls_total counter',
        'gantry_provider_calls_total{namespace="apps",provider="echo",operation="echo",code="OK"} 42',
        '',
        'gantry_provider_call_duration_seconds_bucket{namespace="apps",provider="echo",operation="echo",le="+Inf"} 7 1700000000000',
        'process_cpu_seconds_total 1.5e+2',
        'up NaN',
      ].join('\n'),
    );
    expect(r.skipped).toBe(0);
    expect(r.samples.map((s) => [s.name, s.value])).toEqual([
      ['gantry_provider_calls_total', 42],
      ['gantry_provider_call_duration_seconds_bucket', 7],
      ['process_cpu_seconds_total', 150],
      ['up', Number.NaN],
    ]);
    expect(r.samples[0]!.labels).toEqual({ namespace: 'apps', provider: 'echo', operation: 'echo', code: 'OK' });
    expect(r.samples[1]!.labels.le).toBe('+Inf');
  });

  it('unescapes \\\\, \\" and \\n in label values, and keeps commas, braces and spaces inside them', () => {
    const s = parseSampleLine('m{a="x\\"y",b="back\\\\slash",c="line\\nbreak",d="{1, 2} = 3"} 1');
    expect(s?.labels).toEqual({ a: 'x"y', b: 'back\\slash', c: 'line\nbreak', d: '{1, 2} = 3' });
    expect(parseSampleLine('m{a="1",} 2')?.labels).toEqual({ a: '1' });
    expect(parseSampleLine('m{} 3')).toEqual({ name: 'm', labels: {}, value: 3 });
  });

  it('values: integers, decimals, exponents, signs, infinities and NaN; a timestamp after one or more blanks', () => {
    const cases: [string, number][] = [
      ['0', 0],
      ['-1', -1],
      ['+2', 2],
      ['12', 12],
      ['12.', 12],
      ['1.25', 1.25],
      ['.55', 0.55],
      ['1e3', 1000],
      ['1E-3', 0.001],
      ['2e+10', 2e10],
      ['+Inf', Number.POSITIVE_INFINITY],
      ['Inf', Number.POSITIVE_INFINITY],
      ['-Inf', Number.NEGATIVE_INFINITY],
    ];
    for (const [text, value] of cases) expect(parseSampleLine(`m ${text}`)?.value, text).toBe(value);
    expect(parseSampleLine('m 5  1700000000000')?.value).toBe(5);
    expect(parseSampleLine('m\t7')?.value).toBe(7);
    for (const text of ['x1', '1x', '1.2.3', '--1', '1e', 'e3', '.', 'inf', '0x10', ''])
      expect(parseSampleLine(`m ${text}`), text).toBeUndefined();
  });

  it('trims each line (leading blanks, a CRLF line end)', () => {
    expect(parsePrometheusText('  a 1\r\nb 2\r\n').samples).toEqual([
      { name: 'a', labels: {}, value: 1 },
      { name: 'b', labels: {}, value: 2 },
    ]);
  });

  it('skips and counts lines that are not samples, without losing the others', () => {
    const bad = [
      'm{a="x} 1',
      'm{a="\\q"} 1',
      'm{a=x} 1',
      'm{a=x"} 1',
      'm{a:"x"} 1',
      'm{="x"} 1',
      'm{1a="x"} 1',
      'm{a="1"b="2"} 1',
      'm{a="1" } 1',
      'm 1 2 3',
      'm one',
      '9m 1',
      '9 12 a',
      'm{a="1"',
      'm',
    ];
    for (const line of bad) expect(parseSampleLine(line), line).toBeUndefined();
    const r = parsePrometheusText([...bad, 'ok 1'].join('\n'));
    expect(r.skipped).toBe(bad.length);
    expect(r.samples).toEqual([{ name: 'ok', labels: {}, value: 1 }]);
  });
});

describe('histogram quantiles', () => {
  const b = (pairs: [number, number][]) => new Map(pairs);
  it('interpolates inside the bucket holding the rank, the first bucket starting at 0', () => {
    // 100 calls: 50 ≤ 1 ms, 90 ≤ 10 ms, all ≤ 100 ms
    const h = b([
      [0.001, 50],
      [0.01, 90],
      [0.1, 100],
      [Number.POSITIVE_INFINITY, 100],
    ]);
    expect(histogramQuantile(0.5, h)).toBeCloseTo(0.001, 9);
    expect(histogramQuantile(0.25, h)).toBeCloseTo(0.0005, 9);
    expect(histogramQuantile(0.7, h)).toBeCloseTo(0.001 + 0.009 * (20 / 40), 9);
    expect(histogramQuantile(0.99, h)).toBeCloseTo(0.01 + 0.09 * (9 / 10), 9);
  });
  it('a rank in the +Inf bucket is the highest finite bound; no calls, no quantile', () => {
    expect(
      histogramQuantile(
        0.99,
        b([
          [0.01, 1],
          [Number.POSITIVE_INFINITY, 10],
        ]),
      ),
    ).toBe(0.01);
    expect(
      histogramQuantile(
        0.5,
        b([
          [0.01, 0],
          [Number.POSITIVE_INFINITY, 0],
        ]),
      ),
    ).toBeUndefined();
    expect(histogramQuantile(0.5, new Map())).toBeUndefined();
  });
});

describe('call figures from two scrapes', () => {
  const calls = (provider: string, code: string, v: number, operation = 'echo') => ({
    name: 'gantry_provider_calls_total',
    labels: { namespace: 'apps', provider, operation, code },
    value: v,
  });
  const bucket = (le: string, v: number) => ({
    name: 'gantry_provider_call_duration_seconds_bucket',
    labels: { namespace: 'apps', provider: 'echo', operation: 'echo', le },
    value: v,
  });
  const scrape = (at: number, targets: Record<string, Sample[]>): Scrape => ({
    at,
    targets: new Map(Object.entries(targets)),
  });

  it('rates are increases over the seconds between scrapes, summed over agents and operations; errors are codes other than OK', () => {
    const a = scrape(0, { n1: [calls('echo', 'OK', 100), calls('echo', 'TIMEOUT', 0)], n2: [calls('echo', 'OK', 50, 'get')] });
    const b = scrape(2000, { n1: [calls('echo', 'OK', 120), calls('echo', 'TIMEOUT', 4)], n2: [calls('echo', 'OK', 70, 'get')] });
    const f = callFigures(b, a).get('apps/echo')!;
    expect(f.rate).toBeCloseTo((20 + 4 + 20) / 2, 9);
    expect(f.errorRate).toBeCloseTo(2, 9);
    expect(f.totals).toEqual({ OK: 190, TIMEOUT: 4 });
  });

  it('a counter that went down was reset (agent restart): its new value is what it counted since', () => {
    const f = callFigures(scrape(1000, { n1: [calls('echo', 'OK', 5)] }), scrape(0, { n1: [calls('echo', 'OK', 1000)] })).get('apps/echo')!;
    expect(f.rate).toBe(5);
  });

  it('the first scrape has no rate; a new series of a known agent counted all its calls in the interval, a newly read agent none yet', () => {
    expect(callFigures(scrape(0, { n1: [calls('echo', 'OK', 9)] })).get('apps/echo')!.rate).toBe(0);
    const f = callFigures(
      scrape(1000, { n1: [calls('echo', 'OK', 9), calls('echo', 'TIMEOUT', 3)], n2: [calls('echo', 'OK', 500)] }),
      scrape(0, { n1: [calls('echo', 'OK', 9)] }),
    );
    expect(f.get('apps/echo')!.rate).toBe(3);
    expect(f.get('apps/echo')!.totals).toEqual({ OK: 509, TIMEOUT: 3 });
  });

  it("quantiles come from the interval's calls, or from all calls when the interval had none", () => {
    const before = [bucket('0.001', 10), bucket('0.01', 10), bucket('+Inf', 10)];
    const after = [bucket('0.001', 10), bucket('0.01', 20), bucket('+Inf', 20)];
    const w = callFigures(scrape(1000, { n1: after }), scrape(0, { n1: before })).get('apps/echo')!;
    expect(w.p50Ms).toBeCloseTo(1 + 9 * 0.5, 6); // the interval's 10 calls were all 1–10 ms
    const q = callFigures(scrape(1000, { n1: after }), scrape(0, { n1: after })).get('apps/echo')!;
    expect(q.p50Ms).toBeCloseTo(1, 6); // none in the interval: all 20 since start, half ≤ 1 ms
  });

  it('keeps Providers apart, sums in-flight, and ignores series without namespace or provider', () => {
    const f = callFigures(
      scrape(0, {
        n1: [
          calls('echo', 'OK', 1),
          calls('kv', 'OK', 2),
          calls('kv', 'TIMEOUT', 0),
          { name: 'gantry_provider_calls_in_flight', labels: { namespace: 'apps', provider: 'kv' }, value: 2 },
        ],
        n2: [
          { name: 'gantry_provider_calls_in_flight', labels: { namespace: 'apps', provider: 'kv' }, value: 3 },
          { name: 'gantry_provider_calls_total', labels: { code: 'OK' }, value: 99 },
        ],
      }),
    );
    expect([...f.keys()].sort()).toEqual(['apps/echo', 'apps/kv']);
    expect(f.get('apps/kv')!.inFlight).toBe(5);
    // the agents export every code from the start: the ones never seen stay out of the totals
    expect(f.get('apps/kv')!.totals).toEqual({ OK: 2 });
    expect(f.get('apps/echo')!.p50Ms).toBeUndefined();
  });
});
