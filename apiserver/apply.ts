/**
 * Server-side apply (`application/apply-patch+yaml`): merge a manager's applied configuration
 * into the live object, drop fields that manager applied before and now omits (unless someone
 * else also owns them), and refuse with 409 when another manager owns a field the applied
 * value would change — unless `force=true`, which transfers ownership.
 */
import { ApiError } from './errors.js';
import { kubeTime } from '../runtime/toolkit/time.js';
import { childSchema, fieldsOf, getAt, listShape, removeAt, SEP, type FieldSet, type TypeHints } from './fieldsets.js';
import { readManagers, writeManagers, type Manager } from './managedfields.js';
import { isObject, type KObject, type Schema } from './types.js';

/** Deep-merge applied config into live, honouring keyed and set lists. */
function mergeApplied(
  live: unknown,
  applied: unknown,
  schema: Schema | undefined,
  field: string,
  hints: TypeHints,
  inMeta: boolean,
): unknown {
  if (isObject(applied)) {
    if (!isObject(live)) return structuredClone(applied);
    const out: Record<string, unknown> = { ...live };
    for (const [k, v] of Object.entries(applied)) {
      if (v === null) {
        delete out[k];
        continue;
      }
      out[k] = mergeApplied(out[k], v, childSchema(schema, k), k, hints, inMeta || (field === '' && k === 'metadata'));
    }
    return out;
  }
  if (Array.isArray(applied)) {
    if (!Array.isArray(live)) return structuredClone(applied);
    const shape = listShape(field, schema, hints, inMeta);
    if (shape.type === 'atomic') return structuredClone(applied);
    const out = [...live];
    for (const item of applied) {
      if (shape.type === 'set' || !isObject(item)) {
        if (!out.some((x) => JSON.stringify(x) === JSON.stringify(item))) out.push(item);
        continue;
      }
      const keys = shape.keys ?? [];
      const idx = out.findIndex((x) => isObject(x) && keys.every((k) => JSON.stringify(x[k]) === JSON.stringify(item[k])));
      if (idx >= 0) out[idx] = mergeApplied(out[idx], item, schema?.items, '', hints, inMeta);
      else out.push(structuredClone(item));
    }
    return out;
  }
  return applied;
}

export interface ApplyRequest {
  live: KObject | undefined;
  applied: KObject;
  manager: string;
  force: boolean;
  apiVersion: string;
  hints: TypeHints;
  subresource?: string;
  scope: 'all' | 'main' | 'status';
}

function describePath(p: string): string {
  return p
    .split(SEP)
    .map((s) => (s.startsWith('f:') ? '.' + s.slice(2) : `[${s.slice(2)}]`))
    .join('');
}

/** Returns the merged object with managedFields updated, or throws 409 on conflicts. */
export function serverSideApply(req: ApplyRequest): KObject {
  const { live, applied, manager, force, apiVersion, hints, subresource, scope } = req;
  const applyFields: FieldSet = fieldsOf(applied, hints, scope);
  const managers: Manager[] = live ? readManagers(live) : [];
  const mineIdx = managers.findIndex(
    (m) => m.entry.manager === manager && m.entry.operation === 'Apply' && (m.entry.subresource ?? '') === (subresource ?? ''),
  );
  const previous: FieldSet = mineIdx >= 0 ? managers[mineIdx].fields : new Set();
  const others = managers.filter((_, i) => i !== mineIdx);

  if (live) {
    const conflicts: { manager: string; apiVersion: string; path: string }[] = [];
    for (const o of others) {
      for (const p of applyFields) {
        if (!o.fields.has(p)) continue;
        const last = p.split(SEP).pop()!;
        if (!last.startsWith('f:')) continue; // list item presence never conflicts
        const path = p.split(SEP);
        const want = getAt(applied, path);
        const have = getAt(live, path);
        if (JSON.stringify(want.value) !== JSON.stringify(have.value))
          conflicts.push({ manager: o.entry.manager, apiVersion: o.entry.apiVersion, path: p });
      }
    }
    if (conflicts.length > 0 && !force) {
      // worded as structured-merge-diff's Conflicts.Error(): one conflict on a line, several
      // grouped by manager as "- path" lines
      const who = (c: { manager: string; apiVersion?: string }) => `"${c.manager}"${c.apiVersion ? ` using ${c.apiVersion}` : ''}`;
      const byManager = new Map<string, string[]>();
      for (const c of conflicts) byManager.set(who(c), [...(byManager.get(who(c)) ?? []), describePath(c.path)]);
      const grouped = [...byManager].map(([m, paths]) => `${m}:\n${paths.map((p) => `- ${p}\n`).join('')}`);
      const message =
        conflicts.length === 1
          ? `Apply failed with 1 conflict: conflict with ${who(conflicts[0])}: ${describePath(conflicts[0].path)}`
          : `Apply failed with ${conflicts.length} conflicts: conflicts with${byManager.size === 1 ? ` ${grouped[0]}` : grouped.map((g) => `\n${g}`).join('')}`.trimEnd();
      throw new ApiError(409, 'Conflict', message, {
        causes: conflicts.map((c) => ({
          reason: 'FieldManagerConflict',
          message: `conflict with "${c.manager}"${c.apiVersion ? ` using ${c.apiVersion}` : ''}`,
          field: describePath(c.path),
        })),
      });
    }
    // Forced (or equal-valued) fields: a forced apply takes them away from the others.
    if (force) for (const c of conflicts) for (const o of others) if (o.entry.manager === c.manager) o.fields.delete(c.path);
  }

  let merged: KObject = live ? structuredClone(live) : { metadata: {} };
  if (live) {
    // Fields this manager applied before and now omits go away unless someone else owns them.
    const ownedByOthers = (p: string): boolean => others.some((o) => [...o.fields].some((f) => f === p || f.startsWith(p + SEP)));
    const dropped = [...previous].filter((p) => !applyFields.has(p) && !ownedByOthers(p));
    // Remove deeper paths first so list indices stay valid.
    dropped.sort((a, b) => b.split(SEP).length - a.split(SEP).length);
    for (const p of dropped) removeAt(merged, p.split(SEP));
  }
  merged = mergeApplied(merged, applied, hints.schema, '', hints, false) as KObject;
  merged.metadata ??= {};

  const mine: Manager = {
    entry: {
      manager,
      operation: 'Apply',
      apiVersion,
      time: kubeTime(),
      fieldsType: 'FieldsV1',
      fieldsV1: {},
      ...(subresource ? { subresource } : {}),
    },
    fields: applyFields,
  };
  const result = [...others];
  result.splice(mineIdx >= 0 ? mineIdx : result.length, 0, mine);
  writeManagers(merged, result);
  return merged;
}
