/**
 * Structural-schema handling for custom resources, in the order the apiextensions apiserver
 * applies it on every write: prune fields the schema does not know (reporting them, so
 * `fieldValidation=Strict` can refuse and `Warn` can warn), apply `default`s, then validate
 * with ajv and turn its errors into `Invalid` causes that name the field (`spec.replicas`).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { transitionRuleCauses } from './cel.js';
import { ApiError, errors, type StatusCause } from './errors.js';
import { isObject, type KObject, type ResourceType, type Schema } from './types.js';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv) => void;

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: true });
addFormats(ajv);
for (const f of [
  'int32',
  'int64',
  'float',
  'double',
  'byte',
  'binary',
  'password',
  'quantity',
  'bsonobjectid',
  'isbn',
  'creditcard',
  'ssn',
  'hexcolor',
  'rgbcolor',
  'cidr',
  'mac',
  'isbn10',
  'isbn13',
]) {
  if (!ajv.formats[f]) ajv.addFormat(f, true);
}

const compiled = new WeakMap<Schema, ValidateFunction>();

/** Translate Kubernetes-only keywords into plain JSON schema. */
function toJsonSchema(s: Schema): Schema {
  if (!s || typeof s !== 'object') return s;
  const out: Schema = {};
  for (const [k, v] of Object.entries(s)) {
    if (k === 'properties' || k === 'patternProperties' || k === 'definitions') {
      out[k] = Object.fromEntries(Object.entries(v as Record<string, Schema>).map(([pk, pv]) => [pk, toJsonSchema(pv)]));
    } else if (k === 'items' || k === 'additionalProperties' || k === 'not') {
      out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? toJsonSchema(v) : v;
    } else if (k === 'allOf' || k === 'anyOf' || k === 'oneOf') {
      out[k] = (v as Schema[]).map(toJsonSchema);
    } else if (k.startsWith('x-kubernetes-') || k === 'example' || k === 'externalDocs') {
    } else {
      out[k] = v;
    }
  }
  if (s['x-kubernetes-int-or-string'] && !s.type) {
    const rest = { ...out };
    delete rest.nullable;
    return { ...rest, anyOf: [...(out.anyOf ?? []), { type: 'integer' }, { type: 'string' }] };
  }
  if (out.nullable && !out.type) delete out.nullable;
  return out;
}

function validatorFor(schema: Schema): ValidateFunction {
  let v = compiled.get(schema);
  if (!v) {
    const root = toJsonSchema(schema);
    // metadata is validated by the API machinery, not the CRD schema.
    if (root.properties?.metadata) root.properties = { ...root.properties, metadata: { type: 'object' } };
    v = ajv.compile(root);
    compiled.set(schema, v);
  }
  return v;
}

function fieldPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base ? `${base}.${key}` : key;
}

const ROOT_KEEP = new Set(['apiVersion', 'kind', 'metadata']);

/** Remove unknown fields in place; returns the dotted paths removed. */
export function prune(obj: KObject, schema: Schema | undefined): string[] {
  const removed: string[] = [];
  if (!schema) return removed;
  const walk = (value: unknown, s: Schema | undefined, path: string, root: boolean): void => {
    if (!s || typeof s !== 'object') return;
    if (Array.isArray(value)) {
      if (s.items && typeof s.items === 'object') for (const [i, item] of value.entries()) walk(item, s.items, fieldPath(path, i), false);
      return;
    }
    if (!isObject(value)) return;
    const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
    const embedded = s['x-kubernetes-embedded-resource'] === true;
    const props: Record<string, Schema> | undefined = s.properties;
    for (const key of Object.keys(value)) {
      if ((root || embedded) && ROOT_KEEP.has(key)) continue;
      const ps = props?.[key];
      if (ps) {
        walk(value[key], ps, fieldPath(path, key), false);
        continue;
      }
      if (isObject(s.additionalProperties)) {
        walk(value[key], s.additionalProperties, fieldPath(path, key), false);
        continue;
      }
      if (s.additionalProperties === true || preserve) continue;
      delete value[key];
      removed.push(fieldPath(path, key));
    }
  };
  walk(obj, schema, '', true);
  return removed;
}

/** Apply schema defaults in place (only where the parent object exists). */
export function applyDefaults(obj: KObject, schema: Schema | undefined): void {
  if (!schema) return;
  const walk = (value: unknown, s: Schema | undefined): void => {
    if (!s || typeof s !== 'object') return;
    if (Array.isArray(value)) {
      if (isObject(s.items)) for (const item of value) walk(item, s.items);
      return;
    }
    if (!isObject(value)) return;
    const props: Record<string, Schema> | undefined = s.properties;
    if (props) {
      for (const [k, ps] of Object.entries(props)) {
        if (k === 'metadata' && value === obj) continue;
        if (value[k] === undefined && ps && ps.default !== undefined) value[k] = structuredClone(ps.default);
        if (value[k] !== undefined) walk(value[k], ps);
      }
    }
    if (isObject(s.additionalProperties)) for (const k of Object.keys(value)) if (!props?.[k]) walk(value[k], s.additionalProperties);
  };
  walk(obj, schema);
}

function dotted(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<string>((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '');
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'null' : JSON.stringify(v);
}

function jsonType(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function causeFor(e: ErrorObject, obj: KObject): StatusCause | undefined {
  const field = dotted(e.instancePath);
  const value = e.instancePath
    .split('/')
    .slice(1)
    .reduce<unknown>(
      (cur, p) =>
        cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[p.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined,
      obj,
    );
  switch (e.keyword) {
    case 'required': {
      const f = fieldPath(field, String((e.params as { missingProperty: string }).missingProperty));
      return { reason: 'FieldValueRequired', message: 'Required value', field: f };
    }
    case 'type':
      return {
        reason: 'FieldValueTypeInvalid',
        // the real server names the value's JSON type, not the value
        message: `Invalid value: "${jsonType(value)}": ${field} in body must be of type ${(e.params as { type: string }).type}: "${jsonType(value)}"`,
        field,
      };
    case 'enum': {
      const allowed = ((e.params as { allowedValues: unknown[] }).allowedValues ?? []).map(show).join(', ');
      return { reason: 'FieldValueNotSupported', message: `Unsupported value: ${show(value)}: supported values: ${allowed}`, field };
    }
    case 'anyOf':
    case 'oneOf':
    case 'if':
    case 'then':
    case 'else':
      return undefined; // the branch errors carry the detail
    default:
      return {
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${show(value)}: ${field} in body ${e.message ?? 'is invalid'}`,
        field,
      };
  }
}

/**
 * Validate against the version's schema; throws 422 Invalid with one cause per problem, after
 * the `metadata` problems the caller found (names.ts), as the apiextensions apiserver lists them.
 */
export function validateCustom(rt: ResourceType, version: string, obj: KObject, metaCauses: StatusCause[] = [], prev?: KObject): void {
  const schema = rt.schemas?.[version];
  const causes: StatusCause[] = [...metaCauses];
  if (schema) {
    const v = validatorFor(schema);
    if (!v(obj)) {
      const seen = new Set<string>();
      for (const e of v.errors ?? []) {
        const c = causeFor(e, obj);
        if (!c) continue;
        const k = `${c.field}|${c.message}`;
        if (!seen.has(k)) {
          seen.add(k);
          causes.push(c);
        }
      }
      if (causes.length === 0) causes.push({ reason: 'FieldValueInvalid', message: 'Invalid value: does not match the schema', field: '' });
    }
    causes.push(...ruleCauses(schema, obj, prev, causes));
  }
  if (causes.length > 0) throw errors.invalid(rt.kind, rt.group, obj.metadata?.name ?? '', causes);
}

/**
 * The CRD's CEL rules (cel.ts), after the schema, as the apiextensions apiserver runs them: not
 * at all when the schema already found a wrong type or an unsupported value (one cause says so).
 */
function ruleCauses(schema: Schema, obj: KObject, prev: KObject | undefined, found: StatusCause[]): StatusCause[] {
  if (!hasRules(schema)) return [];
  if (found.some((c) => c.reason === 'FieldValueTypeInvalid' || c.reason === 'FieldValueNotSupported'))
    return [{ reason: 'FieldValueInvalid', message: `Invalid value: null: ${RULES_NOT_CHECKED}`, field: '<nil>' }];
  return transitionRuleCauses(schema, obj, prev);
}

const RULES_NOT_CHECKED =
  'some validation rules were not checked because the object was invalid; correct the existing errors to complete validation';

const withRules = new WeakMap<Schema, boolean>();
function hasRules(schema: Schema): boolean {
  let has = withRules.get(schema);
  if (has === undefined) {
    has = JSON.stringify(schema).includes('"x-kubernetes-validations"');
    withRules.set(schema, has);
  }
  return has;
}

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function parseFieldValidation(v: string | null): FieldValidation {
  if (v === null || v === '') return 'Warn';
  if (v === 'Strict' || v === 'Warn' || v === 'Ignore') return v;
  throw new ApiError(400, 'BadRequest', `fieldValidation must be one of "Ignore", "Warn", or "Strict", got "${v}"`);
}

/** Report pruned (unknown) fields per the requested fieldValidation level. Returns warnings. */
export function checkUnknownFields(pruned: string[], level: FieldValidation): string[] {
  if (pruned.length === 0 || level === 'Ignore') return [];
  const msgs = pruned.map((p) => `unknown field "${p}"`);
  if (level === 'Strict') throw errors.badRequest(`strict decoding error: ${msgs.join(', ')}`);
  return msgs;
}

/**
 * The few built-in checks the emulator makes beyond names, where Gantry depends on the real
 * server refusing: a typed Secret must carry its type's key (core/v1 ValidateSecret), so a
 * `kubernetes.io/dockerconfigjson` Secret without `.dockerconfigjson` never exists there.
 */
export function builtinCauses(rt: ResourceType, o: KObject): StatusCause[] {
  if (rt.group !== '' || rt.kind !== 'Secret') return [];
  const required: Record<string, string> = {
    'kubernetes.io/dockerconfigjson': '.dockerconfigjson',
    'kubernetes.io/dockercfg': '.dockercfg',
  };
  const key = required[o.type as string];
  if (key && !(o.data && Object.hasOwn(o.data, key)))
    return [{ reason: 'FieldValueRequired', message: 'Required value', field: `data[${key}]` }];
  return [];
}
