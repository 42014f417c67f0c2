/**
 * Label and field selectors, parsed once per request into predicates. Label selectors follow
 * the apimachinery grammar (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`); field selectors are
 * comma-ANDed `=`/`==`/`!=` terms over a per-kind set of fields. An unsupported field is a 400,
 * as on a real server, so a client never silently gets an unfiltered list.
 */
import { ApiError } from './errors.js';
import type { KObject, ResourceType } from './types.js';

export type ObjectPredicate = (o: KObject) => boolean;

interface LabelReq {
  key: string;
  op: 'eq' | 'ne' | 'in' | 'notin' | 'exists' | '!exists';
  values: string[];
}

/** Split on commas that are not inside parentheses. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim() !== '') out.push(cur);
  return out.map((t) => t.trim()).filter((t) => t !== '');
}

export function parseLabelSelector(sel: string | undefined): ObjectPredicate | undefined {
  if (!sel || sel.trim() === '') return undefined;
  const reqs: LabelReq[] = [];
  for (const term of splitTerms(sel)) {
    let m: RegExpMatchArray | null;
    if ((m = term.match(/^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      reqs.push({
        key: m[1],
        op: m[2] as 'in' | 'notin',
        values: m[3]
          .split(',')
          .map((v) => v.trim())
          .filter((v) => v !== ''),
      });
    } else if ((m = term.match(/^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/))) {
      reqs.push({ key: m[1], op: m[2] === '!=' ? 'ne' : 'eq', values: [m[3]] });
    } else if ((m = term.match(/^!\s*([^\s!=(),]+)$/))) {
      reqs.push({ key: m[1], op: '!exists', values: [] });
    } else if ((m = term.match(/^([^\s!=(),]+)$/))) {
      reqs.push({ key: m[1], op: 'exists', values: [] });
    } else {
      throw new ApiError(
        400,
        'BadRequest',
        `unable to parse requirement: found '${term}', expected: key, !key, key=value, key!=value, key in (...), key notin (...)`,
      );
    }
  }
  return (o) => {
    const labels = o.metadata?.labels ?? {};
    for (const r of reqs) {
      const has = Object.hasOwn(labels, r.key);
      const v = labels[r.key];
      switch (r.op) {
        case 'eq':
          if (!has || v !== r.values[0]) return false;
          break;
        case 'ne':
          if (has && v === r.values[0]) return false;
          break;
        case 'in':
          if (!has || !r.values.includes(v)) return false;
          break;
        case 'notin':
          if (has && r.values.includes(v)) return false;
          break;
        case 'exists':
          if (!has) return false;
          break;
        case '!exists':
          if (has) return false;
          break;
      }
    }
    return true;
  };
}

/** Read a dotted path such as `spec.nodeName` from an object, as a string (or undefined). */
export function readDotted(o: unknown, path: string): string | undefined {
  let cur: unknown = o;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return undefined;
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

export function fieldGetter(rt: ResourceType, field: string): ((o: KObject) => string | undefined) | undefined {
  if (field === 'metadata.name') return (o) => o.metadata?.name ?? '';
  if (field === 'metadata.namespace') return (o) => o.metadata?.namespace ?? '';
  const builtin = rt.fieldGetters?.[field];
  if (builtin) return builtin;
  if (rt.selectableFields?.includes(field)) return (o) => readDotted(o, field) ?? '';
  return undefined;
}

export function parseFieldSelector(rt: ResourceType, sel: string | undefined): ObjectPredicate | undefined {
  if (!sel || sel.trim() === '') return undefined;
  const tests: ObjectPredicate[] = [];
  for (const term of splitTerms(sel)) {
    const m = term.match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new ApiError(400, 'BadRequest', `invalid selector: '${sel}'; can't understand '${term}'`);
    const [, field, op, value] = m;
    const get = fieldGetter(rt, field);
    if (!get) throw new ApiError(400, 'BadRequest', `field label not supported: ${field}`);
    tests.push(op === '!=' ? (o) => (get(o) ?? '') !== value : (o) => (get(o) ?? '') === value);
  }
  return (o) => tests.every((t) => t(o));
}

export function combine(...ps: (ObjectPredicate | undefined)[]): ObjectPredicate {
  const list = ps.filter((p): p is ObjectPredicate => !!p);
  if (list.length === 0) return () => true;
  return (o) => list.every((p) => p(o));
}
