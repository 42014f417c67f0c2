/**
 * apiserver/cel.ts alone: the transition rule `self == oldSelf` is checked only where the
 * field exists before and after, wherever it sits under `properties`, with the real server's
 * cause; a CRD carrying any rule the emulator cannot evaluate is refused, naming the rule.
 */
import { describe, expect, it } from 'vitest';
import { transitionRuleCauses, unsupportedRuleCauses } from '../../apiserver/cel.js';

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
        message: 'Forbidden: the API emulator evaluates only `self == oldSelf`',
        field: `${at}.properties[spec].x-kubernetes-validations[0]`,
      },
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: the API emulator does not implement messageExpression, fieldPath',
        field: `${at}.properties[spec].x-kubernetes-validations[1]`,
      },
      {
        reason: 'FieldValueForbidden',
        message: 'Forbidden: the API emulator evaluates only `self == oldSelf`',
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
