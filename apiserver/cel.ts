/**
 * CRD validation rules (`x-kubernetes-validations`, CEL) as far as the emulator evaluates
 * them: exactly one form, the transition rule `self == oldSelf` (whitespace aside) on an
 * object's property — the field may not change once the object exists. It is checked on every
 * update (spec, status, apply, patch) where the field is present before and after, as the
 * apiextensions apiserver does, and fails with the same cause: `field: <path>`,
 * `Invalid value: "<schema type>": <message>` (or `failed rule: <rule>` without a message),
 * reason FieldValueInvalid unless the rule names another.
 *
 * Nothing is ignored silently: a CRD carrying any other rule, a rule field the emulator does
 * not implement (messageExpression, fieldPath, optionalOldSelf), or a rule anywhere but on a
 * property reached through `properties` is refused when the CRD is written
 * (`unsupportedRuleCauses`) — a deviation from the real server, which would evaluate it.
 */
import { jsonEqual } from './canonical.js';
import type { StatusCause } from './errors.js';
import { isObject, type KObject, type Schema } from './types.js';

/** The rules this file evaluates (whitespace aside). */
export const EVALUATED_RULES = ['self == oldSelf'] as const;
const RULE_FIELDS = new Set(['rule', 'message', 'reason']);
const REASONS = new Set(['FieldValueInvalid', 'FieldValueForbidden', 'FieldValueRequired', 'FieldValueDuplicate']);

interface Rule {
  rule: string;
  message?: string;
  reason?: string;
}

/** CEL ignores whitespace between tokens, and these rules have no string literals. */
// Stryker disable next-line Regex,StringLiteral: with /g, removing each whitespace character or each run is the same; a non-string rule matches no evaluated rule, whatever it becomes
const normalised = (rule: unknown) => (typeof rule === 'string' ? rule.replace(/\s+/g, '') : '');
const EVALUATED = new Set<string>(EVALUATED_RULES.map(normalised));

function rulesOf(s: Schema): Rule[] {
  const r = s['x-kubernetes-validations'];
  return Array.isArray(r) ? (r as Rule[]) : [];
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/**
 * Causes for the transition rules `next` breaks against `prev` (both as the client's version
 * presents them), in schema order. Empty on create (no old object).
 */
export function transitionRuleCauses(schema: Schema | undefined, next: KObject, prev: KObject | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!schema || !prev) return causes;
  const walk = (s: Schema, v: unknown, old: unknown, path: string): void => {
    if (v === undefined || old === undefined) return; // a transition rule needs both
    for (const r of rulesOf(s)) {
      if (jsonEqual(v, old)) continue;
      causes.push({
        reason: r.reason ?? 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify(s.type ?? 'object')}: ${r.message ?? `failed rule: ${r.rule}`}`,
        field: path,
      });
    }
    if (!isObject(s.properties) || !isObject(v) || !isObject(old)) return;
    for (const [k, ps] of Object.entries(s.properties as Record<string, Schema>)) {
      if (path === '' && k === 'metadata') continue;
      walk(ps, v[k], old[k], join(path, k));
    }
  };
  walk(schema, next, prev, '');
  return causes;
}

/** Why the emulator cannot take a CRD's rules: one cause per rule it does not evaluate. */
export function unsupportedRuleCauses(crd: KObject): StatusCause[] {
  const causes: StatusCause[] = [];
  const walk = (s: unknown, path: string, reachable: boolean): void => {
    if (!isObject(s)) return;
    for (const [i, r] of rulesOf(s).entries()) {
      const at = `${path}.x-kubernetes-validations[${i}]`;
      const extra = Object.keys(r).filter((k) => !RULE_FIELDS.has(k));
      const why = !reachable
        ? 'rules are evaluated only on properties'
        : !EVALUATED.has(normalised(r.rule))
          ? // Stryker disable next-line StringLiteral: one evaluated rule, so the separator never shows
            `the API emulator evaluates only ${EVALUATED_RULES.map((e) => `\`${e}\``).join(', ')}`
          : extra.length
            ? `the API emulator does not implement ${extra.join(', ')}`
            : r.reason !== undefined && !REASONS.has(r.reason)
              ? `reason must be one of ${[...REASONS].join(', ')}`
              : undefined;
      if (why) causes.push({ reason: 'FieldValueForbidden', message: `Forbidden: ${why}`, field: at });
    }
    for (const [k, v] of Object.entries(s)) {
      if (k === 'properties' && isObject(v)) for (const [pk, pv] of Object.entries(v)) walk(pv, `${path}.properties[${pk}]`, reachable);
      // anything else that can hold a schema (items, additionalProperties, allOf…): not a property
      else if (isObject(v)) walk(v, `${path}.${k}`, false);
      else if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(x, `${path}.${k}[${i}]`, false);
    }
  };
  for (const [i, v] of ((crd.spec?.versions ?? []) as KObject[]).entries())
    walk(v?.schema?.openAPIV3Schema, `spec.versions[${i}].schema.openAPIV3Schema`, true);
  return causes;
}
