/**
 * controller/autoscale/reports.ts alone: a report counts only for the instance its subject
 * names (what the membrane lets a host publish); anything else on the load subjects is dropped
 * with its own result, and the store is left as it was.
 */
import { describe, expect, it } from 'vitest';
import { encodeLoadReport, type LoadReport, loadSubject } from '../../../client/load.js';
import { LoadStore } from '../../../controller/autoscale/load-store.js';
import { takeReport } from '../../../controller/autoscale/reports.js';

const T0 = 1_000_000;
const report = (o: Partial<LoadReport> = {}): LoadReport => ({
  v: 1,
  instance: 'echo-1a2b3',
  at: T0,
  startedAt: T0 - 60_000,
  calls: 10,
  overloaded: 0,
  inFlight: 2,
  busyMs: 0,
  serving: true,
  ...o,
});

describe('takeReport', () => {
  it('records a report about the instance its subject names, under that namespace and Provider', () => {
    const store = new LoadStore(6000);
    expect(takeReport(loadSubject('apps', 'echo', 'echo-1a2b3'), encodeLoadReport(report()), store, T0)).toBe('recorded');
    expect(store.figures('apps', 'echo', T0)).toMatchObject({ reporting: 1, inFlight: 2 });
    expect(store.figures('apps', 'other', T0)).toBeUndefined();
  });

  it('decodes escaped subject tokens', () => {
    const store = new LoadStore(6000);
    const subject = loadSubject('a.b', 'e*cho', 'i>1');
    expect(subject).toBe('gantry.a%2Eb.load.e%2Acho.i%3E1');
    expect(takeReport(subject, encodeLoadReport(report({ instance: 'i>1' })), store, T0)).toBe('recorded');
    expect(store.figures('a.b', 'e*cho', T0)?.reporting).toBe(1);
  });

  it('drops a report naming another instance than its subject (foreign-instance)', () => {
    const store = new LoadStore(6000);
    const r = report({ instance: 'someone-else', inFlight: 1e6 });
    expect(takeReport(loadSubject('apps', 'echo', 'echo-1a2b3'), encodeLoadReport(r), store, T0)).toBe('foreign-instance');
    expect(store.figures('apps', 'echo', T0)).toBeUndefined();
  });

  it('drops what is not a report, or not on a load subject (malformed)', () => {
    const store = new LoadStore(6000);
    const good = encodeLoadReport(report());
    const sub = loadSubject('apps', 'echo', 'echo-1a2b3');
    expect(takeReport(sub, new TextEncoder().encode('{"v":1,'), store, T0)).toBe('malformed');
    expect(takeReport(sub, encodeLoadReport({ ...report(), calls: -1 }), store, T0)).toBe('malformed');
    expect(takeReport('gantry.apps.load.echo', good, store, T0)).toBe('malformed');
    expect(takeReport('gantry.apps.load.echo.echo-1a2b3.x', good, store, T0)).toBe('malformed');
    expect(takeReport('other.apps.load.echo.echo-1a2b3', good, store, T0)).toBe('malformed');
    expect(takeReport('gantry.apps.loads.echo.echo-1a2b3', good, store, T0)).toBe('malformed');
    expect(takeReport('gantry.%E0%A4%A.load.echo.echo-1a2b3', good, store, T0)).toBe('malformed');
    expect(store.figures('apps', 'echo', T0)).toBeUndefined();
  });
});
