/**
 * The three non-apply patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902, via
 * fast-json-patch, with `test` failures as 422) and strategic merge patch for built-ins, which
 * merges known lists by their patchMergeKey (containers by name, conditions by type …) and
 * honours the `$patch` / `$deleteFromPrimitiveList` / `$setElementOrder` directives kubectl sends.
 */
import jsonpatchModule from 'fast-json-patch';
import { ApiError } from './errors.js';
import { isObject } from './types.js';

type Json = unknown;
type Operation = { op: string; path: string; value?: unknown; from?: string };
const jsonpatch = jsonpatchModule as unknown as {
  applyPatch(doc: Json, ops: Operation[], validate?: boolean, mutate?: boolean): { newDocument: Json };
  JsonPatchError: new (...a: unknown[]) => Error & { name: string; message: string };
};

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export function jsonPatch(target: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new ApiError(400, 'BadRequest', 'json patch must be an array of operations');
  try {
    return jsonpatch.applyPatch(structuredClone(target), ops as Operation[], true, true).newDocument;
  } catch (e) {
    const err = e as Error & { name?: string };
    if (err.name === 'TEST_OPERATION_FAILED')
      throw new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request');
    throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${err.message.split('\n')[0]}`);
  }
}

/**
 * Strategic merge: like a merge patch, except lists named in `mergeKeys` merge item-by-item
 * on their key ('' = a set of scalars merged by value); other lists are replaced.
 */
export function strategicMergePatch(target: Json, patch: Json, mergeKeys: Record<string, string>): Json {
  if (!isObject(patch)) return structuredClone(patch);
  if (patch['$patch'] === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return stripDirectives(rest);
  }
  if (patch['$patch'] === 'delete') return undefined;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v))
        out[field] = (out[field] as unknown[]).filter((x) => !v.some((d) => JSON.stringify(d) === JSON.stringify(x)));
      continue;
    }
    if (v === null) {
      delete out[k];
      continue;
    }
    const key = mergeKeys[k];
    if (Array.isArray(v) && key !== undefined && Array.isArray(out[k])) {
      out[k] = mergeList(out[k] as unknown[], v, key, mergeKeys);
      continue;
    }
    out[k] = strategicMergePatch(out[k], v, mergeKeys);
    if (out[k] === undefined) delete out[k];
  }
  return out;
}

function mergeList(live: unknown[], patch: unknown[], key: string, mergeKeys: Record<string, string>): unknown[] {
  if (key === '') {
    // a set of primitives: union, keeping order
    const out = [...live];
    for (const p of patch) if (!out.some((x) => JSON.stringify(x) === JSON.stringify(p))) out.push(p);
    return out;
  }
  if (patch.some((p) => isObject(p) && p['$patch'] === 'replace'))
    return patch.filter((p) => !(isObject(p) && p['$patch'])).map(stripDirectives);
  const out = [...live];
  for (const p of patch) {
    if (!isObject(p)) {
      out.push(p);
      continue;
    }
    const idx = p[key] === undefined ? -1 : out.findIndex((x) => isObject(x) && x[key] === p[key]);
    if (p['$patch'] === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
      continue;
    }
    if (idx >= 0) out[idx] = strategicMergePatch(out[idx], p, mergeKeys);
    else out.push(stripDirectives(p));
  }
  return out;
}

function stripDirectives(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripDirectives);
  if (!isObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!k.startsWith('$')) out[k] = stripDirectives(x);
  return out;
}

export const PATCH_TYPES = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
  applyCbor: 'application/apply-patch+cbor',
} as const;

export const CR_SMP_MESSAGE =
  'the body of the request was in an unknown format - accepted media types include: ' +
  'application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml';
