/**
 * Canonical comparison of objects, used to recognise no-op writes. Key order must not matter
 * (a naive JSON.stringify comparison produced spurious MODIFIED events in the prototype), and
 * neither do the bookkeeping fields a write always touches: resourceVersion and the
 * managedFields timestamps.
 */
import type { KObject } from './types.js';

export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return '[' + v.map(canonicalJson).join(',') + ']';
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v as object)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson((v as Record<string, unknown>)[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

/**
 * The equality canonicalJson gives (key order and undefined-valued keys ignored), decided in
 * one walk that stops at the first difference instead of serialising both sides in full.
 */
export function canonicalEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  const aArr = Array.isArray(a),
    bArr = Array.isArray(b);
  if (aArr || bArr) {
    if (!aArr || !bArr || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) {
      // canonicalJson writes an undefined element as nothing: keep that rare case exact.
      if (a[i] === undefined || b[i] === undefined) {
        if (canonicalJson(a[i]) !== canonicalJson(b[i])) return false;
        continue;
      }
      if (!canonicalEqual(a[i], b[i])) return false;
    }
    return true;
  }
  const aObj = a !== null && typeof a === 'object',
    bObj = b !== null && typeof b === 'object';
  if (aObj || bObj) {
    if (!aObj || !bObj) return false;
    return sameDefinedKeys(a as Record<string, unknown>, b as Record<string, unknown>, undefined);
  }
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Objects equal on their defined keys, `skip` excepted. */
function sameDefinedKeys(a: Record<string, unknown>, b: Record<string, unknown>, skip: Set<string> | undefined): boolean {
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(a, k) || a[k] === undefined || skip?.has(k)) continue;
    n++;
    if (!Object.hasOwn(b, k) || b[k] === undefined || !canonicalEqual(a[k], b[k])) return false;
  }
  for (const k in b) {
    if (!Object.hasOwn(b, k) || b[k] === undefined || skip?.has(k)) continue;
    n--;
  }
  return n === 0;
}

const SKIP_TOP = new Set(['metadata']);
const SKIP_META = new Set(['resourceVersion', 'managedFields']);
const SKIP_TIME = new Set(['time']);

function sameManagedFields(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // `mf?.map` made null and undefined both "absent".
  if (a == null || b == null) return a == null && b == null;
  if (!Array.isArray(a) || !Array.isArray(b)) return canonicalEqual(a, b);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i],
      y = b[i];
    if (x === null || y === null || typeof x !== 'object' || typeof y !== 'object' || Array.isArray(x) || Array.isArray(y)) {
      if (!canonicalEqual(x, y)) return false;
      continue;
    }
    if (!sameDefinedKeys(x as Record<string, unknown>, y as Record<string, unknown>, SKIP_TIME)) return false;
  }
  return true;
}

/** Same object apart from resourceVersion and managedFields timestamps. */
export function sameObject(a: KObject, b: KObject): boolean {
  if (!sameDefinedKeys(a as unknown as Record<string, unknown>, b as unknown as Record<string, unknown>, SKIP_TOP)) return false;
  const am = (a.metadata ?? {}) as Record<string, unknown>,
    bm = (b.metadata ?? {}) as Record<string, unknown>;
  return sameDefinedKeys(am, bm, SKIP_META) && sameManagedFields(am.managedFields, bm.managedFields);
}

/** Equality of everything outside metadata (and, when asked, outside status). */
export function sameContent(a: KObject, b: KObject, ignoreStatus: boolean): boolean {
  const strip = (o: KObject) => {
    const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = o;
    if (ignoreStatus) delete (rest as Record<string, unknown>).status;
    return rest;
  };
  return canonicalEqual(strip(a), strip(b));
}

/**
 * `JSON.stringify(a) === JSON.stringify(b)` (key order matters) without building either string:
 * for the JSON-decoded data the store holds. Anything with a toJSON falls back to the strings.
 */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return JSON.stringify(a) === JSON.stringify(b);
  if (typeof (a as { toJSON?: unknown }).toJSON === 'function' || typeof (b as { toJSON?: unknown }).toJSON === 'function')
    return JSON.stringify(a) === JSON.stringify(b);
  const aArr = Array.isArray(a),
    bArr = Array.isArray(b);
  if (aArr !== bArr) return false;
  if (aArr) {
    const x = a as unknown[],
      y = b as unknown[];
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) {
      // An array writes undefined (and functions) as null.
      const u = x[i] === undefined || typeof x[i] === 'function' ? null : x[i];
      const v = y[i] === undefined || typeof y[i] === 'function' ? null : y[i];
      if (!jsonEqual(u, v)) return false;
    }
    return true;
  }
  const x = a as Record<string, unknown>,
    y = b as Record<string, unknown>;
  const xk = Object.keys(x).filter((k) => x[k] !== undefined && typeof x[k] !== 'function' && typeof x[k] !== 'symbol');
  const yk = Object.keys(y).filter((k) => y[k] !== undefined && typeof y[k] !== 'function' && typeof y[k] !== 'symbol');
  if (xk.length !== yk.length) return false;
  for (let i = 0; i < xk.length; i++) if (xk[i] !== yk[i] || !jsonEqual(x[xk[i]], y[yk[i]])) return false;
  return true;
}

/**
 * A deep copy of JSON-shaped data (plain objects, arrays, primitives), several times cheaper
 * than structuredClone, which the write path used to pay on every update. Anything that is not
 * plain data still goes through structuredClone.
 */
export function cloneData<T>(v: T): T {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    const out: unknown[] = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = cloneData(v[i]);
    return out as T;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const src = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(src)) {
    // JSON.parse makes "__proto__" an own key; plain assignment would set the prototype instead.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value: cloneData(src[k]), enumerable: true, writable: true, configurable: true });
    else out[k] = cloneData(src[k]);
  }
  return out as T;
}
