import { describe, expect, it } from 'vitest';
import {
  type ControllerRevision,
  canonicalJson,
  changeCauseAnnotation,
  controllerRevisionsPath,
  revisionName,
  revisionsOf,
  templateHash,
  templateOf,
  undoPatch,
} from '../../../api/history.js';
import type { ProviderSpec } from '../../../api/provider.js';
import { planHistory } from '../../../controller/history/plan.js';

const rev = (name: string, revision: number): ControllerRevision => ({
  apiVersion: 'apps/v1',
  kind: 'ControllerRevision',
  metadata: { name },
  data: { archive: {} },
  revision,
});

describe('the history plan', () => {
  it('a new template gets max+1; a steady one plans nothing', () => {
    expect(planHistory([], 'kv-a', 10)).toEqual({ create: 1, remove: [], current: 1 });
    expect(planHistory([rev('kv-a', 1), rev('kv-b', 2)], 'kv-c', 10)).toEqual({ create: 3, remove: [], current: 3 });
    expect(planHistory([rev('kv-a', 1), rev('kv-b', 2)], 'kv-b', 10)).toEqual({ remove: [], current: 2 });
  });

  it('an older template again (an undo) is renumbered to max+1, as a Deployment does', () => {
    expect(planHistory([rev('kv-a', 1), rev('kv-b', 2)], 'kv-a', 10)).toEqual({ bump: 3, remove: [], current: 3 });
    // two revisions numbered alike: the current one becomes the newest
    expect(planHistory([rev('kv-a', 2), rev('kv-b', 2)], 'kv-a', 10)).toEqual({ bump: 3, remove: [], current: 3 });
  });

  it('prunes the oldest beyond the limit, never the current one', () => {
    const all = [rev('kv-d', 4), rev('kv-a', 1), rev('kv-b', 2), rev('kv-c', 3)];
    expect(planHistory(all, 'kv-a', 1)).toEqual({ bump: 5, remove: ['kv-b', 'kv-c'], current: 5 });
    expect(planHistory(all, 'kv-d', 0)).toEqual({ remove: ['kv-a', 'kv-b', 'kv-c'], current: 4 });
    expect(planHistory(all, 'kv-e', 2).remove).toEqual(['kv-a', 'kv-b']);
  });
});

describe('the template', () => {
  const spec: ProviderSpec = {
    archive: { ref: 'r/acme/kv', pullSecrets: [{ name: 'pull' }], requireLog: true },
    replicas: 3,
    config: { b: 1, a: { y: 2, x: 1 } },
    linkName: 'default',
    rollout: { maxSurge: 1 },
  };

  it('holds what decides what runs, with the resolved revision, and not replicas, placement or rollout', () => {
    // strict: no field the spec lacks appears, not even as undefined
    expect(templateOf(spec, { revision: 7 })).toStrictEqual({
      archive: { ref: 'r/acme/kv', pullSecrets: [{ name: 'pull' }], revision: 7 },
      config: { b: 1, a: { y: 2, x: 1 } },
      linkName: 'default',
    });
    // configFrom is carried when a spec has it, without this build knowing its shape
    const withRefs = { ...spec, configFrom: [{ secretRef: { name: 's' } }] } as ProviderSpec;
    expect(templateOf(withRefs, { revision: 7 }).configFrom).toEqual([{ secretRef: { name: 's' } }]);
  });

  it('hashes equal for equal templates in any key order, and differently for any change', () => {
    const t = templateOf(spec, { revision: 7 });
    const reordered = templateOf({ ...spec, config: { a: { x: 1, y: 2 }, b: 1 }, replicas: 9 }, { revision: 7 });
    expect(templateHash(reordered)).toBe(templateHash(t));
    expect(canonicalJson(reordered)).toBe(canonicalJson(t));
    expect(templateHash(templateOf(spec, { revision: 8 }))).not.toBe(templateHash(t));
    expect(templateHash(templateOf({ ...spec, config: { b: 2 } }, { revision: 7 }))).not.toBe(templateHash(t));
    expect(templateHash(t)).toMatch(/^[0-9a-f]{10}$/);
    expect(revisionName('kv', 'abc')).toBe('kv-abc');
    expect(revisionName('x'.repeat(253), '0123456789')).toHaveLength(253);
  });

  it('canonical JSON sorts keys at every depth, keeps array order, drops undefined', () => {
    expect(canonicalJson({ b: [2, { d: 1, c: 'x' }], a: null, u: undefined, e: {} })).toBe('{"a":null,"b":[2,{"c":"x","d":1}],"e":{}}');
    expect(canonicalJson([{ b: 1, a: 2 }])).toBe('[{"a":2,"b":1}]');
    expect(canonicalJson('s')).toBe('"s"');
  });

  it('names what kubectl and the API call it', () => {
    expect(changeCauseAnnotation).toBe('kubernetes.io/change-cause');
    expect(controllerRevisionsPath('a b')).toBe('/apis/apps/v1/namespaces/a%20b/controllerrevisions');
  });

  it("undo's patch sets the revision's fields, removes those it lacked, and leaves the rest", () => {
    const t = templateOf({ archive: { ref: 'r/acme/kv' }, resources: { memory: '64Mi' } }, { revision: 1 });
    expect(undoPatch(spec, '42', t)).toEqual([
      { op: 'test', path: '/metadata/resourceVersion', value: '42' },
      { op: 'add', path: '/spec/archive/ref', value: 'r/acme/kv' },
      { op: 'remove', path: '/spec/archive/pullSecrets' },
      { op: 'add', path: '/spec/archive/revision', value: 1 },
      { op: 'remove', path: '/spec/config' },
      { op: 'add', path: '/spec/resources', value: { memory: '64Mi' } },
      { op: 'remove', path: '/spec/linkName' },
    ]);
  });

  it("a Provider's revisions are those it controls by uid, oldest first", () => {
    const p = { metadata: { name: 'kv', uid: 'u1' } };
    const own = (name: string, n: number, uid: string, provider = 'kv'): ControllerRevision => ({
      ...rev(name, n),
      metadata: {
        name,
        labels: { 'gantry.dev/provider': provider },
        ownerReferences: [{ apiVersion: 'gantry.dev/v1alpha1', kind: 'Provider', name: provider, uid, controller: true }],
      },
    });
    // owned by kv's uid but not as its controller: not kv's
    const notController = own('kv-ref', 3, 'u1');
    notController.metadata.ownerReferences = [
      { apiVersion: 'gantry.dev/v1alpha1', kind: 'Provider', name: 'kv', uid: 'u1' },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u9', controller: true },
    ];
    // kv's as controller, with another (non-controlling) owner beside it
    const twoOwners = own('kv-c', 4, 'u1');
    twoOwners.metadata.ownerReferences!.unshift({ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u9' });
    const l = revisionsOf(p, [
      own('kv-b', 2, 'u1'),
      own('kv-a', 1, 'u1'),
      own('kv-old', 1, 'u0'),
      own('other-a', 1, 'u1', 'other'),
      rev('bare', 1),
      { ...rev('kv-unowned', 5), metadata: { name: 'kv-unowned', labels: { 'gantry.dev/provider': 'kv' } } },
      notController,
      twoOwners,
    ]);
    expect(l.map((r) => r.metadata.name)).toEqual(['kv-a', 'kv-b', 'kv-c']);
  });
});
