/**
 * The write path's shortcuts (single-walk equality, plain-data copies, fieldsV1 built from a
 * trie and kept when a manager's fields are untouched) must give the same answers as the
 * straightforward definitions they replace: canonical JSON, JSON.stringify, structuredClone.
 */
import { describe, expect, it } from 'vitest';
import { canonicalEqual, canonicalJson, cloneData, jsonEqual, sameContent, sameObject } from '../../apiserver/canonical.js';
import { fieldsOf, fromFieldsV1, SEP, toFieldsV1 } from '../../apiserver/fieldsets.js';
import { recordUpdate } from '../../apiserver/managedfields.js';
import type { KObject } from '../../apiserver/types.js';

const cm = (data: Record<string, string>, extra: Partial<KObject['metadata']> = {}): KObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'default', ...extra },
  data,
});

describe('no-op detection', () => {
  it('ignores key order and undefined keys, as canonical JSON does', () => {
    const a = { x: 1, y: { p: [1, { q: 'r' }], s: null } };
    const b = { y: { s: null, p: [1, { q: 'r' }], t: undefined }, x: 1 };
    expect(canonicalEqual(a, b)).toBe(true);
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalEqual(a, { ...b, x: 2 })).toBe(false);
    expect(canonicalEqual({ p: [1, 2] }, { p: [2, 1] })).toBe(false);
    expect(canonicalEqual({ p: [] }, { p: {} })).toBe(false);
    expect(canonicalEqual({ p: null }, {})).toBe(false);
  });

  it('sees through resourceVersion and managedFields times, but not a manager change', () => {
    const mf = (manager: string, time: string) => [
      { manager, operation: 'Update' as const, apiVersion: 'v1', time, fieldsType: 'FieldsV1' as const, fieldsV1: { 'f:data': {} } },
    ];
    const a = cm({ k: 'v' }, { resourceVersion: '1', managedFields: mf('m', 't1') });
    expect(sameObject(a, cm({ k: 'v' }, { resourceVersion: '2', managedFields: mf('m', 't2') }))).toBe(true);
    expect(sameObject(a, cm({ k: 'v' }, { resourceVersion: '1', managedFields: mf('n', 't1') }))).toBe(false);
    expect(sameObject(a, cm({ k: 'w' }, { resourceVersion: '1', managedFields: mf('m', 't1') }))).toBe(false);
    expect(sameObject(a, cm({ k: 'v' }, { resourceVersion: '1', managedFields: mf('m', 't1'), labels: { a: 'b' } }))).toBe(false);
    expect(sameContent(cm({ k: 'v' }), { ...cm({ k: 'v' }, { name: 'other' }) }, false)).toBe(true);
    expect(sameContent({ ...cm({}), status: { a: 1 } }, { ...cm({}), status: { a: 2 } }, true)).toBe(true);
    expect(sameContent({ ...cm({}), status: { a: 1 } }, { ...cm({}), status: { a: 2 } }, false)).toBe(false);
  });

  it('jsonEqual is JSON.stringify equality, key order included', () => {
    const pairs: [unknown, unknown][] = [
      [
        { a: 1, b: 2 },
        { b: 2, a: 1 },
      ],
      [{ a: 1, u: undefined }, { a: 1 }],
      [
        [1, undefined],
        [1, null],
      ],
      [{ a: [1, { b: 'c' }] }, { a: [1, { b: 'c' }] }],
      ['1', 1],
      [null, undefined],
      [{}, []],
    ];
    for (const [x, y] of pairs) expect(jsonEqual(x, y)).toBe(JSON.stringify(x) === JSON.stringify(y));
  });
});

describe('cloneData', () => {
  it('copies JSON data deeply, own "__proto__" keys included', () => {
    const src = JSON.parse('{"a":{"b":[1,{"c":2}]},"__proto__":{"x":1}}') as Record<string, unknown>;
    const copy = cloneData(src);
    expect(copy).not.toBe(src);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(src));
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    ((copy.a as { b: unknown[] }).b[1] as { c: number }).c = 3;
    expect(((src.a as { b: unknown[] }).b[1] as { c: number }).c).toBe(2);
  });
});

describe('fieldsV1', () => {
  it('nests members with sorted keys and marks members that have children, whatever the set order', () => {
    const members = ['f:spec', ['f:spec', 'f:b'].join(SEP), ['f:spec', 'f:a', 'f:x'].join(SEP), ['f:spec', 'f:ab'].join(SEP), 'f:data'];
    const want = '{"f:data":{},"f:spec":{"f:a":{"f:x":{}},"f:ab":{},"f:b":{},".":{}}}';
    expect(JSON.stringify(toFieldsV1(new Set(members)))).toBe(want);
    expect(JSON.stringify(toFieldsV1(new Set([...members].reverse())))).toBe(want);
    expect([...fromFieldsV1(toFieldsV1(new Set(members)))].sort()).toEqual([...members].sort());
  });

  it('a write by a second manager takes only the changed field; the first keeps the rest', () => {
    const hints = {};
    const v1 = cm({ a: '1', b: '2' });
    recordUpdate(undefined, v1, hints, 'first', 'v1', undefined, 'all');
    const v2 = { ...structuredClone(v1), data: { a: '1', b: '3', c: '4' } };
    recordUpdate(v1, v2, hints, 'second', 'v1', undefined, 'all');
    const byManager = Object.fromEntries((v2.metadata.managedFields ?? []).map((e) => [e.manager, JSON.stringify(e.fieldsV1)]));
    expect(byManager).toEqual({ first: '{"f:data":{"f:a":{}}}', second: '{"f:data":{"f:b":{},"f:c":{}}}' });
    // A third write that leaves both managers' fields alone changes neither entry.
    const v3 = { ...structuredClone(v2), metadata: { ...v2.metadata, labels: { l: 'x' } } };
    recordUpdate(v2, v3, hints, 'third', 'v1', undefined, 'all');
    const after = Object.fromEntries((v3.metadata.managedFields ?? []).map((e) => [e.manager, JSON.stringify(e.fieldsV1)]));
    expect(after).toEqual({ ...byManager, third: '{"f:metadata":{"f:labels":{"f:l":{}}}}' });
  });

  it('rebuilds a client-sent fieldsV1 in canonical order even when its fields are untouched', () => {
    const prev = cm(
      { a: '1', b: '2' },
      {
        managedFields: [
          {
            manager: 'client',
            operation: 'Update',
            apiVersion: 'v1',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:data': { 'f:b': {}, 'f:a': {} } },
          },
        ],
      },
    );
    const next = { ...structuredClone(prev), metadata: { ...structuredClone(prev.metadata), labels: { l: 'x' } } };
    recordUpdate(prev, next, {}, 'other', 'v1', undefined, 'all');
    const client = next.metadata.managedFields?.find((e) => e.manager === 'client');
    expect(JSON.stringify(client?.fieldsV1)).toBe('{"f:data":{"f:a":{},"f:b":{}}}');
  });

  it('lists keyed items as k: members with their fields, atomic lists as one field', () => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c', image: 'i' }], args: ['x'] },
    } as KObject;
    const fields = [...fieldsOf(pod, { mergeKeys: { containers: 'name' } }, 'all')];
    expect(fields).toEqual([
      ['f:spec', 'f:containers', 'k:{"name":"c"}'].join(SEP),
      ['f:spec', 'f:containers', 'k:{"name":"c"}', 'f:name'].join(SEP),
      ['f:spec', 'f:containers', 'k:{"name":"c"}', 'f:image'].join(SEP),
      ['f:spec', 'f:args'].join(SEP),
    ]);
  });
});
