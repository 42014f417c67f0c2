/**
 * Load reports come from hosts, which run native provider code: the controller takes a report
 * only when its shape and ranges hold, and says which field broke them.
 */
import { describe, expect, it } from 'vitest';
import { encodeLoadReport, loadSubject, parseLoadReport, type LoadReport } from '../../client/load.js';

const good: LoadReport = {
  v: 1,
  instance: 'kv-0',
  at: 2000,
  startedAt: 1000,
  calls: 10,
  overloaded: 2,
  inFlight: 3,
  busyMs: 40,
  serving: true,
};
const bytes = (o: unknown) => Buffer.from(JSON.stringify(o));

describe('load reports', () => {
  it('round-trip, and only the known fields survive', () => {
    expect(parseLoadReport(encodeLoadReport(good))).toEqual(good);
    expect(parseLoadReport(bytes({ ...good, extra: 'x' }))).toEqual(good);
  });

  it('go to one subject per instance, tokens encoded', () => {
    expect(loadSubject('ns', 'kv', 'kv-0')).toBe('gantry.ns.load.kv.kv-0');
    expect(loadSubject('ns', 'a.b', 'i*')).toBe('gantry.ns.load.a%2Eb.i%2A');
  });

  it.each([
    ['not JSON', Buffer.from('{'), 'not JSON'],
    ['an array', bytes([good]), 'not a JSON object'],
    ['null', bytes(null), 'not a JSON object'],
    ['another version', bytes({ ...good, v: 2 }), 'unknown version 2'],
    ['no instance', bytes({ ...good, instance: '' }), 'instance missing'],
    ['a negative count', bytes({ ...good, calls: -1 }), 'calls is not a finite number ≥ 0'],
    ['a string count', bytes({ ...good, inFlight: '3' }), 'inFlight is not a finite number ≥ 0'],
    ['busy missing', bytes({ ...good, busyMs: undefined }), 'busyMs is not a finite number ≥ 0'],
    ['at missing', bytes({ ...good, at: undefined }), 'at is not a finite number ≥ 0'],
    ['startedAt missing', bytes({ ...good, startedAt: null }), 'startedAt is not a finite number ≥ 0'],
    ['overloaded missing', bytes({ ...good, overloaded: undefined }), 'overloaded is not a finite number ≥ 0'],
    ['serving not boolean', bytes({ ...good, serving: 1 }), 'serving is not a boolean'],
    ['more rejections than calls', bytes({ ...good, overloaded: 11 }), 'overloaded exceeds calls'],
  ])('are refused with their reason: %s', (_what, data, reason) => {
    expect(parseLoadReport(data)).toBe(reason);
  });
});
