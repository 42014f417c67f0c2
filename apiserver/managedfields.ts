/**
 * Field ownership (`metadata.managedFields`): which manager set which field, read from and
 * written back to an object's entries, and what a non-apply write does to it — the writer
 * takes the fields whose value it changed, the others lose them. Server-side apply's side is
 * apply.ts; the field-set notation itself is fieldsets.ts.
 */
import { kubeTime } from '../runtime/toolkit/time.js';
import { fieldsOf, fromFieldsV1, isBuiltFieldsV1, toFieldsV1, type FieldSet, type TypeHints } from './fieldsets.js';
import { isObject, type KObject, type ManagedFieldsEntry } from './types.js';

export interface Manager {
  entry: ManagedFieldsEntry;
  fields: FieldSet;
}

/**
 * A manager's field set as read from a stored entry: remembers whether anything was added or
 * removed since, so an untouched entry can keep its fieldsV1 instead of having it rebuilt.
 */
class ReadFieldSet extends Set<string> {
  touched = false;
  override add(v: string): this {
    if (!this.has(v)) this.touched = true;
    return super.add(v);
  }
  override delete(v: string): boolean {
    const hit = super.delete(v);
    if (hit) this.touched = true;
    return hit;
  }
  override clear(): void {
    if (this.size) this.touched = true;
    super.clear();
  }
}

export function readManagers(obj: KObject): Manager[] {
  return (obj.metadata.managedFields ?? []).map((e) => {
    const fields = new ReadFieldSet(fromFieldsV1(e.fieldsV1));
    fields.touched = false;
    return { entry: e, fields };
  });
}

/** The entry's own fieldsV1 when it was built here and its set is as read; else a new one. */
function fieldsV1For(m: Manager): Record<string, unknown> {
  const own = m.entry.fieldsV1 as unknown;
  if (m.fields instanceof ReadFieldSet && !m.fields.touched && isObject(own) && isBuiltFieldsV1(own)) return own;
  return toFieldsV1(m.fields);
}

export function writeManagers(obj: KObject, managers: Manager[]): void {
  const entries = managers
    .filter((m) => m.fields.size > 0)
    .map((m) => ({ ...m.entry, fieldsType: 'FieldsV1' as const, fieldsV1: fieldsV1For(m) }));
  if (entries.length) obj.metadata.managedFields = entries;
  else delete obj.metadata.managedFields;
}

function sameManager(e: ManagedFieldsEntry, manager: string, op: 'Apply' | 'Update', subresource: string | undefined): boolean {
  return e.manager === manager && e.operation === op && (e.subresource ?? '') === (subresource ?? '');
}

/**
 * Record a non-apply write: the manager takes every field whose value it changed, others lose
 * them, and fields that disappeared leave every manager.
 */
export function recordUpdate(
  prev: KObject | undefined,
  next: KObject,
  hints: TypeHints,
  manager: string,
  apiVersion: string,
  subresource: string | undefined,
  scope: 'all' | 'main' | 'status',
): void {
  const managers = prev ? readManagers(prev) : [];
  if (!prev) {
    // A create: the manager owns everything it set.
    const nextFields = fieldsOf(next, hints, scope);
    writeManagers(
      next,
      nextFields.size
        ? [
            {
              entry: {
                manager,
                operation: 'Update',
                apiVersion,
                time: kubeTime(),
                fieldsType: 'FieldsV1',
                fieldsV1: {},
                ...(subresource ? { subresource } : {}),
              },
              fields: nextFields,
            },
          ]
        : [],
    );
    return;
  }
  // The fields whose value the write changed, found in the same walk that lists them.
  const changed: FieldSet = new Set();
  const nextFields = fieldsOf(next, hints, scope, { prev, changed });
  const allNext = scope === 'all' ? nextFields : fieldsOf(next, hints, 'all');
  for (const m of managers) {
    for (const p of [...m.fields]) if (!allNext.has(p) || changed.has(p)) m.fields.delete(p);
  }
  if (changed.size > 0) {
    let mine = managers.find((m) => sameManager(m.entry, manager, 'Update', subresource));
    if (!mine) {
      mine = {
        entry: { manager, operation: 'Update', apiVersion, fieldsType: 'FieldsV1', fieldsV1: {}, ...(subresource ? { subresource } : {}) },
        fields: new Set(),
      };
      managers.push(mine);
    }
    for (const p of changed) mine.fields.add(p);
    mine.entry = { ...mine.entry, apiVersion, time: kubeTime() };
  }
  writeManagers(next, managers);
}
