/**
 * CRD validation rules (`x-kubernetes-validations`, CEL) as far as the emulator evaluates
 * them: two hand-written transition rules, keyed by their text (whitespace aside) —
 *   - `self == oldSelf` on an object's property: the field may not change once the object exists;
 *   - the Provider's root rule REPLICAS_OWNER (with its `fieldPath: .spec.replicas`): with
 *     spec.autoscale set, spec.replicas changes only to status.autoscale.desiredReplicas.
 * Each is checked on every
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

/** The Provider CRD's root rule (api/crds.ts REPLICAS_OWNER_RULE; test/apiserver/replicas-owner.test.ts checks they are one). */
export const REPLICAS_OWNER =
  '!has(self.spec.autoscale) || ' +
  '(has(self.spec.replicas) ? self.spec.replicas : 1) == (has(oldSelf.spec.replicas) ? oldSelf.spec.replicas : 1) || ' +
  '(has(self.spec.replicas) && has(self.status) && has(self.status.autoscale) && has(self.status.autoscale.desiredReplicas) && ' +
  'self.spec.replicas == self.status.autoscale.desiredReplicas)';

/** The rules this file evaluates (whitespace aside). */
export const EVALUATED_RULES = ['self == oldSelf', REPLICAS_OWNER] as const;
const RULE_FIELDS = new Set(['rule', 'message', 'reason']);
const REASONS = new Set(['FieldValueInvalid', 'FieldValueForbidden', 'FieldValueRequired', 'FieldValueDuplicate']);

interface Rule {
  rule: string;
  message?: string;
  reason?: string;
  fieldPath?: string;
}

/** CEL ignores whitespace between tokens, and these rules have no string literals. */
// Stryker disable next-line Regex,StringLiteral: with /g, removing each whitespace character or each run is the same; a non-string rule matches no evaluated rule, whatever it becomes
const normalised = (rule: unknown) => (typeof rule === 'string' ? rule.replace(/\s+/g, '') : '');

/** CEL `has(o.k)`: the field is present (a pruned or absent field is not). */
const field = (o: unknown, k: string): unknown => (isObject(o) ? o[k] : undefined);
const replicasOf = (o: unknown) => field(field(o, 'spec'), 'replicas') ?? 1;

/** REPLICAS_OWNER, as CEL reads it. */
function replicasOwned(self: unknown, old: unknown): boolean {
  const spec = field(self, 'spec');
  if (field(spec, 'autoscale') === undefined) return true;
  if (replicasOf(self) === replicasOf(old)) return true;
  const desired = field(field(field(self, 'status'), 'autoscale'), 'desiredReplicas');
  return desired !== undefined && field(spec, 'replicas') === desired;
}

const ONLY_EVALUATED = "the API emulator evaluates only `self == oldSelf` and the Provider CRD's spec.replicas owner rule";

interface Evaluator {
  holds(self: unknown, old: unknown): boolean;
  /** Rule fields beyond rule/message/reason it takes, with the one value each may have. */
  extra?: Record<string, string>;
  /** Only on the schema's root (the rule reads self.spec and self.status). */
  rootOnly?: boolean;
}

const EVALUATORS = new Map<string, Evaluator>([
  [normalised('self == oldSelf'), { holds: jsonEqual }],
  [normalised(REPLICAS_OWNER), { holds: replicasOwned, extra: { fieldPath: '.spec.replicas' }, rootOnly: true }],
]);

/** The field a rule's failure names: its fieldPath (`.a.b`) below where it sits. */
// Stryker disable next-line Regex: the one fieldPath taken (.spec.replicas) starts with its only leading dot
const causeField = (path: string, r: Rule) => (r.fieldPath ? r.fieldPath.replace(/^\./, '').split('.').reduce(join, path) : path);

/** The cause's message, as apiextensions' fieldErrorForReason words it. */
function causeMessage(s: Schema, r: Rule, evaluator: Evaluator): string {
  const detail = r.message ?? `failed rule: ${r.rule}`;
  // Stryker disable next-line ConditionalExpression: only the replicas rule is rootOnly and carries fieldPath
  if (evaluator.rootOnly && r.reason === 'FieldValueForbidden') return `Forbidden: ${detail}`;
  return `Invalid value: ${JSON.stringify(s.type ?? 'object')}: ${detail}`;
}

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
      const evaluator = EVALUATORS.get(normalised(r.rule))!; // the CRD was refused otherwise
      if (evaluator.holds(v, old)) continue;
      causes.push({ reason: r.reason ?? 'FieldValueInvalid', message: causeMessage(s, r, evaluator), field: causeField(path, r) });
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
  const walk = (s: unknown, path: string, reachable: boolean, root = false): void => {
    if (!isObject(s)) return;
    for (const [i, r] of rulesOf(s).entries()) {
      const at = `${path}.x-kubernetes-validations[${i}]`;
      const evaluator = EVALUATORS.get(normalised(r.rule));
      const extra = Object.keys(r).filter(
        (k) => !RULE_FIELDS.has(k) && evaluator?.extra?.[k] !== (r as unknown as Record<string, unknown>)[k],
      );
      const why = !reachable
        ? 'rules are evaluated only on properties'
        : !evaluator
          ? ONLY_EVALUATED
          : evaluator.rootOnly && !root
            ? 'the API emulator evaluates this rule only on the root of the schema'
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
    walk(v?.schema?.openAPIV3Schema, `spec.versions[${i}].schema.openAPIV3Schema`, true, true);
  return causes;
}
