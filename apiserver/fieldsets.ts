/**
 * Field sets: the set of paths (`f:spec`, `f:replicas` …, list items as `k:{"name":"a"}` or
 * `v:"x"`) an object sets, in the `fieldsV1` notation Kubernetes stores in
 * `metadata.managedFields`, and the walks that list, look up and remove them. Lists are keyed
 * or atomic by the CRD's `x-kubernetes-list-type` or, for built-ins, by their strategic-merge
 * key. Who owns which set is managedfields.ts.
 */
import { jsonEqual } from './canonical.js';
import { isObject, type KObject, type Schema } from './types.js';

export type FieldPath = string[];
/** Paths joined by SEP, for set membership. */
export type FieldSet = Set<string>;
export const SEP = '\u0000';

export interface ListShape {
  type: 'map' | 'set' | 'atomic';
  keys?: string[];
}

/** Metadata lists are the same for every kind. */
const META_KEYS: Record<string, string> = { finalizers: '', ownerReferences: 'uid' };

export interface TypeHints {
  schema?: Schema;
  mergeKeys?: Record<string, string>;
}

export function childSchema(s: Schema | undefined, key: string): Schema | undefined {
  if (!s) return undefined;
  if (s.properties?.[key]) return s.properties[key];
  if (isObject(s.additionalProperties)) return s.additionalProperties as Schema;
  return undefined;
}

export function listShape(field: string, schema: Schema | undefined, hints: TypeHints, inMeta: boolean): ListShape {
  if (inMeta && META_KEYS[field] !== undefined)
    return META_KEYS[field] === '' ? { type: 'set' } : { type: 'map', keys: [META_KEYS[field]] };
  if (schema) {
    const t = schema['x-kubernetes-list-type'];
    if (t === 'map') return { type: 'map', keys: schema['x-kubernetes-list-map-keys'] ?? [] };
    if (t === 'set') return { type: 'set' };
    return { type: 'atomic' };
  }
  const mk = hints.mergeKeys?.[field];
  if (mk === undefined) return { type: 'atomic' };
  return mk === '' ? { type: 'set' } : { type: 'map', keys: [mk] };
}

function keySegment(item: Record<string, unknown>, keys: string[]): string {
  const k: Record<string, unknown> = {};
  for (const name of [...keys].sort()) k[name] = item[name];
  return 'k:' + JSON.stringify(k);
}

/** Where a path leads in some object, as getAt reports it. */
interface Lookup {
  found: boolean;
  value?: unknown;
}
const NOT_FOUND: Lookup = { found: false };

/** One step of getAt: the lookup of `seg` under `cur`. */
function stepAt(cur: Lookup, seg: string): Lookup {
  if (!cur.found) return NOT_FOUND;
  const v = cur.value;
  if (seg.startsWith('f:')) {
    const k = seg.slice(2);
    if (!isObject(v) || !(k in v)) return NOT_FOUND;
    return { found: true, value: v[k] };
  }
  if (seg.startsWith('k:')) {
    if (!Array.isArray(v)) return NOT_FOUND;
    const key = JSON.parse(seg.slice(2)) as Record<string, unknown>;
    const hit = v.find((it) => isObject(it) && Object.entries(key).every(([k, x]) => JSON.stringify(it[k]) === JSON.stringify(x)));
    return hit === undefined ? NOT_FOUND : { found: true, value: hit };
  }
  if (seg.startsWith('v:')) {
    if (!Array.isArray(v)) return NOT_FOUND;
    const want = seg.slice(2);
    const hit = v.find((it) => JSON.stringify(it) === want);
    return hit === undefined ? NOT_FOUND : { found: true, value: hit };
  }
  return cur;
}

/**
 * The fields an object (or applied configuration) sets. `scope` picks the part of the object a
 * request may own: the main resource excludes status when there is a status subresource.
 * With `since`, also collects into `since.changed` the fields whose value differs from (or is
 * absent in) `since.prev`, looked up as getAt would, in the same walk.
 */
export function fieldsOf(
  obj: KObject,
  hints: TypeHints,
  scope: 'all' | 'main' | 'status',
  since?: { prev: KObject; changed: FieldSet },
): FieldSet {
  const walker = new FieldWalker(hints, since?.changed);
  const root: Lookup | undefined = since ? { found: true, value: obj } : undefined;
  const prevRoot: Lookup | undefined = since ? { found: true, value: since.prev } : undefined;
  const at = (l: Lookup | undefined, ...segs: string[]): Lookup | undefined => {
    if (!l) return undefined;
    for (const seg of segs) l = stepAt(l, seg);
    return l;
  };
  const schema = hints.schema;
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'apiVersion' || k === 'kind') continue;
    if (k === 'metadata') {
      const m = v as Record<string, unknown>;
      if (scope === 'status') continue;
      for (const mk of ['labels', 'annotations', 'finalizers', 'ownerReferences']) {
        if (m?.[mk] === undefined) continue;
        const path = 'f:metadata' + SEP + 'f:' + mk;
        walker.walk(m[mk], undefined, path, mk, true, at(root, 'f:metadata', 'f:' + mk), at(prevRoot, 'f:metadata', 'f:' + mk));
      }
      continue;
    }
    if (scope === 'main' && k === 'status') continue;
    if (scope === 'status' && k !== 'status') continue;
    walker.walk(v, childSchema(schema, k), 'f:' + k, k, false, at(root, 'f:' + k), at(prevRoot, 'f:' + k));
  }
  return walker.out;
}

/**
 * One walk of fieldsOf. `after`/`before` are getAt(obj, path) and getAt(prev, path), carried
 * down instead of re-walked; they are undefined when no previous object was given.
 */
class FieldWalker {
  readonly out: FieldSet = new Set();

  constructor(
    private readonly hints: TypeHints,
    private readonly changed: FieldSet | undefined,
  ) {}

  private add(path: string, after: Lookup | undefined, before: Lookup | undefined): void {
    this.out.add(path);
    if (this.changed && (!before!.found || !jsonEqual(before!.value, after!.value))) this.changed.add(path);
  }

  walk(
    value: unknown,
    schema: Schema | undefined,
    path: string,
    field: string,
    inMeta: boolean,
    after: Lookup | undefined,
    before: Lookup | undefined,
  ): void {
    if (isObject(value)) {
      const keys = Object.keys(value);
      if (keys.length === 0) {
        this.add(path, after, before);
        return;
      }
      for (const k of keys) {
        const seg = 'f:' + k;
        this.walk(
          value[k],
          childSchema(schema, k),
          path + SEP + seg,
          k,
          inMeta,
          after && stepAt(after, seg),
          before && stepAt(before, seg),
        );
      }
      return;
    }
    if (Array.isArray(value)) return this.walkList(value, schema, path, field, inMeta, after, before);
    this.add(path, after, before);
  }

  /** A list: atomic (one field), a set (a field per value) or a map (a field per key, walked inside). */
  private walkList(
    value: unknown[],
    schema: Schema | undefined,
    path: string,
    field: string,
    inMeta: boolean,
    after: Lookup | undefined,
    before: Lookup | undefined,
  ): void {
    const shape = listShape(field, schema, this.hints, inMeta);
    if (shape.type === 'atomic') {
      this.add(path, after, before);
      return;
    }
    for (const item of value) {
      if (shape.type === 'set' || !isObject(item)) {
        const seg = 'v:' + JSON.stringify(item);
        this.add(path + SEP + seg, after && stepAt(after, seg), before && stepAt(before, seg));
        continue;
      }
      const seg = keySegment(item, shape.keys ?? []);
      const itemPath = path + SEP + seg;
      const itemAfter = after && stepAt(after, seg);
      const itemBefore = before && stepAt(before, seg);
      this.add(itemPath, itemAfter, itemBefore);
      for (const k of Object.keys(item)) {
        const fseg = 'f:' + k;
        const next = [itemAfter && stepAt(itemAfter, fseg), itemBefore && stepAt(itemBefore, fseg)] as const;
        this.walk(item[k], childSchema(schema?.items, k), itemPath + SEP + fseg, k, inMeta, ...next);
      }
    }
  }
}

/** Look a path up in an object. */
export function getAt(obj: unknown, path: FieldPath): { found: boolean; value?: unknown } {
  let cur: Lookup = { found: true, value: obj };
  for (const seg of path) {
    cur = stepAt(cur, seg);
    if (!cur.found) return NOT_FOUND;
  }
  return cur;
}

/** Delete the field or list item at a path, in place. */
export function removeAt(obj: unknown, path: FieldPath): void {
  if (path.length === 0) return;
  const parent = getAt(obj, path.slice(0, -1));
  if (!parent.found) return;
  const seg = path[path.length - 1];
  const p = parent.value;
  if (seg.startsWith('f:') && isObject(p)) delete p[seg.slice(2)];
  else if (Array.isArray(p)) {
    const idx = seg.startsWith('v:')
      ? p.findIndex((it) => JSON.stringify(it) === seg.slice(2))
      : p.findIndex((it) => {
          const key = JSON.parse(seg.slice(2)) as Record<string, unknown>;
          return isObject(it) && Object.entries(key).every(([k, v]) => JSON.stringify(it[k]) === JSON.stringify(v));
        });
    if (idx >= 0) p.splice(idx, 1);
  }
}

/** fieldsV1 objects toFieldsV1 built: reading one back gives exactly the set it came from. */
const builtFieldsV1 = new WeakSet<object>();

/** Whether `f` is a fieldsV1 object toFieldsV1 built (and so matches the set it was built from). */
export function isBuiltFieldsV1(f: object): boolean {
  return builtFieldsV1.has(f);
}

export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  // A trie of the members, then each level written with its keys sorted: the same nesting and
  // key order as inserting the sorted members one by one, without sorting whole paths.
  interface Node {
    children: Map<string, Node>;
    member: boolean;
  }
  const root: Node = { children: new Map(), member: false };
  // Members come mostly in walk order, so each shares a prefix with the one before: keep the
  // trie nodes along the previous member and split only the part after the shared prefix.
  const stack: { end: number; node: Node }[] = [];
  let last = '';
  for (const m of set) {
    let common = 0;
    const max = Math.min(m.length, last.length);
    while (common < max && m.charCodeAt(common) === last.charCodeAt(common)) common++;
    while (stack.length) {
      const { end } = stack[stack.length - 1];
      if (end <= common && (end === m.length || m.charCodeAt(end) === 0)) break;
      stack.pop();
    }
    let node = stack.length ? stack[stack.length - 1].node : root;
    let pos = stack.length ? stack[stack.length - 1].end + 1 : 0;
    if (stack.length && stack[stack.length - 1].end === m.length) pos = m.length + 1;
    while (pos <= m.length) {
      let end = m.indexOf(SEP, pos);
      if (end < 0) end = m.length;
      const seg = m.slice(pos, end);
      let c = node.children.get(seg);
      if (!c) {
        c = { children: new Map(), member: false };
        node.children.set(seg, c);
      }
      node = c;
      stack.push({ end, node });
      pos = end + 1;
    }
    node.member = true;
    last = m;
  }
  const emit = (n: Node): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (n.children.size === 0) return out;
    const keys = [...n.children.keys()].sort();
    for (const k of keys) out[k] = emit(n.children.get(k)!);
    // A member that also has children is marked with ".".
    if (n.member) out['.'] = {};
    return out;
  };
  const out = emit(root);
  builtFieldsV1.add(out);
  return out;
}
export function fromFieldsV1(f: unknown): FieldSet {
  const out: FieldSet = new Set();
  // `path`: the segments so far joined by SEP, `depth` their count.
  const walk = (node: unknown, path: string, depth: number): void => {
    if (!isObject(node)) return;
    const keys = Object.keys(node);
    if (depth > 0 && (keys.length === 0 || '.' in node)) out.add(path);
    for (const k of keys) if (k !== '.') walk(node[k], depth > 0 ? path + SEP + k : k, depth + 1);
  };
  walk(f, '', 0);
  return out;
}
