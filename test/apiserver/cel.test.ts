/**
 * apiserver/cel.ts alone: the transition rule `self == oldSelf` is checked only where the
 * field exists before and after, wherever it sits under `properties`, with the real server's
 * cause; a CRD carrying any rule the emulator cannot evaluate is refused, naming the rule.
 */
import { describe, expect, it } from 'vitest';
import { REPLICAS_OWNER, transitionRuleCauses, unsupportedRuleCauses } from '../../apiserver/cel.js';

const immutable = (extra: Record<string, unknown> = {}) => ({ 'x-kubernetes-validations': [{ rule: 'self == oldSelf', ...extra }] });
const schema = {
  type: 'object',
  properties: {
    metadata: { type: 'object', ...immutable() },
    spec: {
      type: 'object',
      properties: {
        key: { type: 'string', ...immutable({ message: 'key is immutable' }) },
        inner: { type: 'object', properties: { id: { type: 'integer', ...immutable({ reason: 'FieldValueForbidden' }) } } },
        free: { type: 'string' },
      },
    },
  },
};
const obj = (spec: Record<string, unknown>, name = 'x') => ({ metadata: { name }, spec });

describe('transitionRuleCauses', () => {
  it('nothing on create, nothing when the fields are unchanged or only free ones change', () => {
    expect(transitionRuleCauses(schema, obj({ key: 'a' }), undefined)).toEqual([]);
    expect(transitionRuleCauses(undefined, obj({ key: 'a' }), obj({ key: 'b' }))).toEqual([]);
    expect(transitionRuleCauses(schema, obj({ key: 'a', free: '1' }), obj({ key: 'a', free: '2' }))).toEqual([]);
    // metadata is the API machinery's, never the schema's rules
    expect(transitionRuleCauses(schema, obj({ key: 'a' }, 'y'), obj({ key: 'a' }))).toEqual([]);
  });

  it("a property named metadata below the root is the schema's", () => {
    const s = { type: 'object', properties: { spec: { type: 'object', properties: { metadata: { type: 'string', ...immutable() } } } } };
    expect(transitionRuleCauses(s, obj({ metadata: 'b' }), obj({ metadata: 'a' }))).toEqual([
      { reason: 'FieldValueInvalid', message: 'Invalid value: "string": failed rule: self == oldSelf', field: 'spec.metadata' },
    ]);
  });

  it('a changed field: its path, the value type, the message (or the rule) and the reason', () => {
    expect(transitionRuleCauses(schema, obj({ key: 'b', inner: { id: 2 } }), obj({ key: 'a', inner: { id: 1 } }))).toEqual([
      { reason: 'FieldValueInvalid', message: 'Invalid value: "string": key is immutable', field: 'spec.key' },
      { reason: 'FieldValueForbidden', message: 'Invalid value: "integer": failed rule: self == oldSelf', field: 'spec.inner.id' },
    ]);
  });

  it('a field added or removed is not a transition (the rule needs both sides)', () => {
    expect(transitionRuleCauses(schema, obj({ key: 'a' }), obj({}))).toEqual([]);
    expect(transitionRuleCauses(schema, obj({}), obj({ key: 'a' }))).toEqual([]);
    expect(transitionRuleCauses(schema, obj({ inner: 'not an object' }), obj({ inner: { id: 1 } }))).toEqual([]);
  });

  it('an object compares whole (a rule without a type is an object)', () => {
    const s = { type: 'object', properties: { spec: { properties: { g: immutable({ message: 'm' }) } } } };
    expect(transitionRuleCauses(s, obj({ g: { k: 1 } }), obj({ g: { k: 1 } }))).toEqual([]);
    expect(transitionRuleCauses(s, obj({ g: { k: 2 } }), obj({ g: { k: 1 } }))).toEqual([
      { reason: 'FieldValueInvalid', message: 'Invalid value: "object": m', field: 'spec.g' },
    ]);
  });
});

describe('unsupportedRuleCauses', () => {
  const crd = (s: unknown) => ({ metadata: { name: 'w' }, spec: { versions: [{ name: 'v1', schema: { openAPIV3Schema: s } }] } });
  const at = 'spec.versions[0].schema.openAPIV3Schema';

  it('takes `self == oldSelf` (any spacing) with message and reason, on a property', () => {
    const s = {
      properties: {
        spec: {
          properties: {
            a: immutable({ message: 'm', reason: 'FieldValueForbidden' }),
            b: { 'x-kubernetes-validations': [{ rule: ' self==oldSelf ' }] },
          },
        },
      },
    };
    expect(unsupportedRuleCauses(crd(s))).toEqual([]);
    expect(unsupportedRuleCauses({ metadata: {}, spec: {} })).toEqual([]);
    // a version without a schema, a schema holding nulls
    expect(unsupportedRuleCauses({ metadata: {}, spec: { versions: [{ name: 'v1' }, null] } })).toEqual([]);
    expect(unsupportedRuleCauses(crd({ properties: { a: { default: null } } }))).toEqual([]);
  });

  it('refuses every other rule, field, reason or place, naming each', () => {
    const s = {
      properties: {
        spec: {
          'x-kubernetes-validations': [
            { rule: 'self.a > 0' },
            { rule: 'self == oldSelf', messageExpression: '"x"', fieldPath: '.a' },
            { rule: 5 },
          ],
          properties: {
            a: immutable({ reason: 'Bogus' }),
            list: { type: 'array', items: { type: 'object', ...immutable() } },
          },
        },
      },
    };
    expect(unsupportedRuleCauses(crd(s))).toEqual([
      {
        reason: 'FieldValueForbidden',
        message: "Forbidden: the API emulator evaluates only `self == oldSelf` and the Provider CRD's spec.replicas owner rule",
        field: `${at}.properties[spec].x-kubernetes-validations[0]`,
      },
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: the API emulator does not implement messageExpression, fieldPath',
        field: `${at}.properties[spec].x-kubernetes-validations[1]`,
      },
      {
        reason: 'FieldValueForbidden',
        message: "Forbidden: the API emulator evaluates only `self == oldSelf` and the Provider CRD's spec.replicas owner rule",
        field: `${at}.properties[spec].x-kubernetes-validations[2]`,
      },
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: reason must be one of FieldValueInvalid, FieldValueForbidden, FieldValueRequired, FieldValueDuplicate',
        field: `${at}.properties[spec].properties[a].x-kubernetes-validations[0]`,
      },
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: rules are evaluated only on properties',
        field: `${at}.properties[spec].properties[list].items.x-kubernetes-validations[0]`,
      },
    ]);
  });

  it('a rule under allOf/anyOf is not on a property either', () => {
    const s = { properties: { spec: { anyOf: [{ ...immutable() }] } } };
    expect(unsupportedRuleCauses(crd(s))).toEqual([
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: rules are evaluated only on properties',
        field: `${at}.properties[spec].anyOf[0].x-kubernetes-validations[0]`,
      },
    ]);
  });
});

describe('the spec.replicas owner rule (root, fieldPath .spec.replicas)', () => {
  const owner = { rule: REPLICAS_OWNER, message: 'owned', fieldPath: '.spec.replicas', reason: 'FieldValueForbidden' };
  const root = { type: 'object', 'x-kubernetes-validations': [owner], properties: { spec: { type: 'object' } } };
  const p = (spec: Record<string, unknown>, desired?: number) => ({
    metadata: { name: 'p' },
    spec,
    ...(desired === undefined ? {} : { status: { autoscale: { desiredReplicas: desired } } }),
  });
  const refused = [{ reason: 'FieldValueForbidden', message: 'Forbidden: owned', field: 'spec.replicas' }];
  const crd = (s: unknown) => ({ metadata: { name: 'w' }, spec: { versions: [{ name: 'v1', schema: { openAPIV3Schema: s } }] } });
  const at = 'spec.versions[0].schema.openAPIV3Schema';
  const auto = { maxReplicas: 3 };

  it('without spec.autoscale any change passes', () => {
    expect(transitionRuleCauses(root, p({ replicas: 7 }), p({ replicas: 1 }))).toEqual([]);
    expect(transitionRuleCauses(root, p({ replicas: 7 }, 2), p({ replicas: 1, autoscale: auto }))).toEqual([]);
  });

  it('with it, a change to anything but status.autoscale.desiredReplicas is refused at spec.replicas', () => {
    expect(transitionRuleCauses(root, p({ replicas: 7, autoscale: auto }), p({ replicas: 1, autoscale: auto }))).toEqual(refused);
    expect(transitionRuleCauses(root, p({ replicas: 7, autoscale: auto }, 2), p({ replicas: 1, autoscale: auto }, 2))).toEqual(refused);
    // removing replicas is a change to the default 1
    expect(transitionRuleCauses(root, p({ autoscale: auto }, 1), p({ replicas: 2, autoscale: auto }, 2))).toEqual(refused);
    expect(transitionRuleCauses(root, p({ autoscale: auto }, 2), p({ replicas: 2, autoscale: auto }, 2))).toEqual(refused);
    // removed, and no desiredReplicas at all
    expect(transitionRuleCauses(root, p({ autoscale: auto }), p({ replicas: 2, autoscale: auto }))).toEqual(refused);
  });

  it('passes unchanged replicas (absent = 1), and the desired value', () => {
    expect(transitionRuleCauses(root, p({ replicas: 1, autoscale: auto }), p({ autoscale: auto }))).toEqual([]);
    expect(transitionRuleCauses(root, p({ replicas: 4, autoscale: auto }, 9), p({ replicas: 4 }))).toEqual([]);
    expect(transitionRuleCauses(root, p({ replicas: 0, autoscale: auto }, 0), p({ replicas: 1, autoscale: auto }, 1))).toEqual([]);
    expect(transitionRuleCauses(root, p({ replicas: 3, autoscale: auto }, 3), p({ replicas: 1, autoscale: auto }, 1))).toEqual([]);
  });

  it('is taken only on the root, with its own fieldPath; another rule with a fieldPath is refused as any other', () => {
    expect(unsupportedRuleCauses(crd({ ...root, 'x-kubernetes-validations': [{ rule: 'self.x == 1', fieldPath: '.spec' }] }))).toEqual([
      {
        reason: 'FieldValueForbidden',
        message: "Forbidden: the API emulator evaluates only `self == oldSelf` and the Provider CRD's spec.replicas owner rule",
        field: `${at}.x-kubernetes-validations[0]`,
      },
    ]);
    expect(unsupportedRuleCauses(crd(root))).toEqual([]);
    expect(unsupportedRuleCauses(crd({ properties: { spec: { 'x-kubernetes-validations': [owner] } } }))).toEqual([
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: the API emulator evaluates this rule only on the root of the schema',
        field: `${at}.properties[spec].x-kubernetes-validations[0]`,
      },
    ]);
    expect(unsupportedRuleCauses(crd({ ...root, 'x-kubernetes-validations': [{ ...owner, fieldPath: '.spec' }] }))).toEqual([
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: the API emulator does not implement fieldPath',
        field: `${at}.x-kubernetes-validations[0]`,
      },
    ]);
  });
});
