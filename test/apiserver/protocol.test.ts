/**
 * The API emulator's protocol semantics, through client-node and raw HTTPS: auth, media
 * types, the write verbs' preconditions and errors, status/spec separation, generation,
 * finalizers, CR validation/pruning/defaulting, list paging and selectors, watch history and
 * transitions, server-side apply ownership, and the GC and namespace controllers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { eventually, raw, watch } from './http.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const W = '/apis/test.gantry.dev/v1/namespaces/default/widgets';

let api: TestApiServer;
let core: CoreV1Api;
let custom: CustomObjectsApi;

async function widget(name: string, spec: Record<string, unknown> = { size: 'small' }, extra: Record<string, unknown> = {}) {
  const r = await raw(api, 'POST', W, { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name, ...extra }, spec });
  expect(r.status, r.text).toBe(201);
  return r.json;
}

beforeAll(async () => {
  api = await startTestApiServer();
  core = api.kc.makeApiClient(CoreV1Api);
  custom = api.kc.makeApiClient(CustomObjectsApi);
  const crd = parse(readFileSync(join(fixtures, 'widget-crd.yaml'), 'utf8'));
  const r = await raw(api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  expect(r.status, r.text).toBe(201);
});
afterAll(async () => {
  await api?.stop();
});

describe('transport', () => {
  it('serves client-node over HTTPS with the kubeconfig it wrote', async () => {
    const list = await core.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system', 'kube-node-lease']));
    expect(Number(list.metadata?.resourceVersion)).toBeGreaterThan(0);
    const ns = await core.readNamespace({ name: 'default' });
    expect(ns.status?.phase).toBe('Active');
    expect(ns.spec?.finalizers).toEqual(['kubernetes']);
  });

  it('refuses requests without the bearer token (401 Status)', async () => {
    const r = await raw(api, 'GET', '/api/v1/namespaces', undefined, {}, null);
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    const wrong = await raw(api, 'GET', '/api/v1/namespaces', undefined, {}, 'not-the-token');
    expect(wrong.status).toBe(401);
  });

  it('answers protobuf bodies with 415 UnsupportedMediaType', async () => {
    const r = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', Buffer.from([0x6b, 0x38, 0x73, 0]), {
      'Content-Type': 'application/vnd.kubernetes.protobuf',
    });
    expect(r.status).toBe(415);
    expect(r.json.reason).toBe('UnsupportedMediaType');
  });

  it('serves an empty OpenAPI v2 document as JSON and as the protobuf kubectl ≤1.28 asks for', async () => {
    const json = await raw(api, 'GET', '/openapi/v2');
    expect(json.json).toMatchObject({ swagger: '2.0', paths: {}, definitions: {} });
    const pb = await raw(api, 'GET', '/openapi/v2', undefined, { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' });
    expect(pb.status).toBe(200);
    expect(Buffer.from(pb.text, 'latin1')).toEqual(Buffer.from([0x0a, 0x03, 0x32, 0x2e, 0x30])); // Document{swagger: "2.0"}
  });

  it('unknown paths are 404 Status', async () => {
    const r = await raw(api, 'GET', '/apis/nope.example/v1/things');
    expect(r.status).toBe(404);
    expect(r.json.kind).toBe('Status');
  });
});

describe('writes', () => {
  it('create: 409 AlreadyExists, 400 with resourceVersion set, 404 for a missing namespace, generateName', async () => {
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'dup' }, data: { a: '1' } } });
    const dup = await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'dup' } } }).catch((e) => e);
    expect(dup).toBeInstanceOf(ApiException);
    expect((dup as ApiException<unknown>).code).toBe(409);
    expect(JSON.parse((dup as ApiException<string>).body as string).reason).toBe('AlreadyExists');
    const withRv = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'rv', resourceVersion: '5' } });
    expect(withRv.status).toBe(400);
    const noNs = await raw(api, 'POST', '/api/v1/namespaces/missing/configmaps', { metadata: { name: 'x' } });
    expect(noNs.status).toBe(404);
    expect(noNs.json.message).toBe('namespaces "missing" not found');
    const gen = await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { generateName: 'cm-' } });
    expect(gen.status).toBe(201);
    expect(gen.json.metadata.name).toMatch(/^cm-[a-z0-9]{5}$/);
  });

  it('a stale PUT is 409 Conflict with the real message', async () => {
    const w = await widget('stale');
    const ok = await raw(api, 'PUT', `${W}/stale`, { ...w, spec: { size: 'medium' } });
    expect(ok.status).toBe(200);
    const stale = await raw(api, 'PUT', `${W}/stale`, { ...w, spec: { size: 'large' } });
    expect(stale.status).toBe(409);
    expect(stale.json.reason).toBe('Conflict');
    expect(stale.json.message).toBe(
      'Operation cannot be fulfilled on widgets.test.gantry.dev "stale": the object has been modified; please apply your changes to the latest version and try again',
    );
    expect(stale.json.details).toEqual({ name: 'stale', group: 'test.gantry.dev', kind: 'widgets' });
    const noRv = await raw(api, 'PUT', `${W}/stale`, { ...w, metadata: { ...w.metadata, resourceVersion: undefined } });
    expect(noRv.status).toBe(422);
  });

  it('lease updates use the same conflict semantics (leader election)', async () => {
    const coord = api.kc.makeApiClient(CoordinationV1Api);
    const l = await coord.createNamespacedLease({
      namespace: 'default',
      body: { metadata: { name: 'leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    });
    const mine = await coord.replaceNamespacedLease({
      name: 'leader',
      namespace: 'default',
      body: { ...l, spec: { ...l.spec, holderIdentity: 'a', leaseTransitions: 1 } },
    });
    expect(mine.spec?.leaseTransitions).toBe(1);
    const theirs = await coord
      .replaceNamespacedLease({ name: 'leader', namespace: 'default', body: { ...l, spec: { ...l.spec, holderIdentity: 'b' } } })
      .catch((e) => e);
    expect((theirs as ApiException<unknown>).code).toBe(409);
  });

  it('status is ignored on the main resource and spec on /status; generation bumps only on spec changes', async () => {
    const created = await widget('gen', { size: 'small' });
    expect(created.metadata.generation).toBe(1);
    expect(created.status).toBeUndefined();
    // status on the main resource is dropped
    const main = await raw(api, 'PATCH', `${W}/gen`, { status: { phase: 'Hacked' } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(main.status).toBe(200);
    expect(main.json.status).toBeUndefined();
    expect(main.json.metadata.resourceVersion).toBe(created.metadata.resourceVersion); // a no-op
    // spec on /status is ignored, status taken; generation unchanged
    const st = await raw(
      api,
      'PATCH',
      `${W}/gen/status`,
      { spec: { size: 'large' }, status: { phase: 'Running' }, metadata: { labels: { x: 'y' } } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(st.status).toBe(200);
    expect(st.json.spec.size).toBe('small');
    expect(st.json.status.phase).toBe('Running');
    expect(st.json.metadata.labels?.x).toBeUndefined();
    expect(st.json.metadata.generation).toBe(1);
    // metadata-only change: no bump
    const lab = await raw(
      api,
      'PATCH',
      `${W}/gen`,
      { metadata: { labels: { a: 'b' } } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(lab.json.metadata.generation).toBe(1);
    expect(lab.json.status.phase).toBe('Running');
    // spec change: bump
    const spec = await raw(api, 'PATCH', `${W}/gen`, { spec: { size: 'large' } }, { 'Content-Type': 'application/merge-patch+json' });
    expect(spec.json.metadata.generation).toBe(2);
  });

  it('no-op writes keep the resourceVersion and emit nothing', async () => {
    const w = await widget('noop');
    const rv0 = w.metadata.resourceVersion;
    const s = await watch(api, `${W}?watch=true&resourceVersion=${rv0}&fieldSelector=metadata.name%3Dnoop`);
    const same = await raw(api, 'PUT', `${W}/noop`, w);
    expect(same.json.metadata.resourceVersion).toBe(rv0);
    const reordered = await raw(
      api,
      'PATCH',
      `${W}/noop`,
      { spec: { replicas: 1, size: 'small' } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(reordered.json.metadata.resourceVersion).toBe(rv0);
    await raw(api, 'PATCH', `${W}/noop`, { spec: { replicas: 2 } }, { 'Content-Type': 'application/merge-patch+json' });
    const evs = await s.waitFor((e) => e.length >= 1);
    s.close();
    expect(evs.map((e) => e.type)).toEqual(['MODIFIED']);
    expect(evs[0].object.spec.replicas).toBe(2);
  });

  it('json-patch (with a failing test op → 422) and 415 for strategic merge on a custom resource', async () => {
    await widget('jp', { size: 'small', x: 1 });
    const ok = await raw(
      api,
      'PATCH',
      `${W}/jp`,
      [
        { op: 'test', path: '/spec/x', value: 1 },
        { op: 'replace', path: '/spec/x', value: 5 },
      ],
      { 'Content-Type': 'application/json-patch+json' },
    );
    expect(ok.status).toBe(200);
    expect(ok.json.spec.x).toBe(5);
    const bad = await raw(api, 'PATCH', `${W}/jp`, [{ op: 'test', path: '/spec/x', value: 1 }], {
      'Content-Type': 'application/json-patch+json',
    });
    expect(bad.status).toBe(422);
    const smp = await raw(api, 'PATCH', `${W}/jp`, { spec: { x: 2 } }, { 'Content-Type': 'application/strategic-merge-patch+json' });
    expect(smp.status).toBe(415);
    expect(smp.json.message).toContain(
      'accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
    );
    const withRv = await raw(
      api,
      'PATCH',
      `${W}/jp`,
      { metadata: { resourceVersion: '1' }, spec: { x: 3 } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(withRv.status).toBe(409);
  });

  it('strategic merge patch on built-ins merges lists by key', async () => {
    await raw(api, 'POST', '/api/v1/nodes', {
      metadata: { name: 'smp-node' },
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'MemoryPressure', status: 'False' },
        ],
      },
    });
    const r = await raw(
      api,
      'PATCH',
      '/api/v1/nodes/smp-node/status',
      { status: { conditions: [{ type: 'Ready', status: 'False' }] } },
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    );
    expect(r.status, r.text).toBe(200);
    expect(r.json.status.conditions).toEqual([
      { type: 'Ready', status: 'False' },
      { type: 'MemoryPressure', status: 'False' },
    ]);
    const cordon = await raw(
      api,
      'PATCH',
      '/api/v1/nodes/smp-node',
      { spec: { unschedulable: true } },
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    );
    expect(cordon.json.spec.unschedulable).toBe(true);
    // taints have no merge key upstream: the patch's list replaces the live one
    await raw(
      api,
      'PATCH',
      '/api/v1/nodes/smp-node',
      {
        spec: {
          taints: [
            { key: 'a', effect: 'NoSchedule' },
            { key: 'b', effect: 'NoSchedule' },
          ],
        },
      },
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    );
    const untaint = await raw(
      api,
      'PATCH',
      '/api/v1/nodes/smp-node',
      { spec: { taints: [{ key: 'b', effect: 'NoSchedule' }] } },
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    );
    expect(untaint.json.spec.taints).toEqual([{ key: 'b', effect: 'NoSchedule' }]);
    // Service ports merge on `port`, container ports on `containerPort`
    await raw(api, 'POST', '/api/v1/namespaces/default/services', {
      metadata: { name: 'svc' },
      spec: {
        ports: [
          { name: 'a', port: 80 },
          { name: 'b', port: 81 },
        ],
      },
    });
    const svc = await raw(
      api,
      'PATCH',
      '/api/v1/namespaces/default/services/svc',
      { spec: { ports: [{ port: 81, name: 'bb' }] } },
      { 'Content-Type': 'application/strategic-merge-patch+json' },
    );
    expect(svc.json.spec.ports).toEqual([
      { name: 'a', port: 80 },
      { name: 'bb', port: 81 },
    ]);
  });

  it('invalid custom resources are 422 with field causes; unknown fields are pruned, refused under Strict; defaults applied', async () => {
    const bad = await raw(api, 'POST', W, {
      apiVersion: 'test.gantry.dev/v1',
      kind: 'Widget',
      metadata: { name: 'bad' },
      spec: { size: 'huge', replicas: 'three' },
    });
    expect(bad.status).toBe(422);
    expect(bad.json.reason).toBe('Invalid');
    const fields = bad.json.details.causes.map((c: { field: string }) => c.field);
    expect(fields).toEqual(expect.arrayContaining(['spec.size', 'spec.replicas']));
    expect(bad.json.details.causes.find((c: { field: string }) => c.field === 'spec.size').reason).toBe('FieldValueNotSupported');
    const missing = await raw(api, 'POST', W, { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name: 'bad2' }, spec: {} });
    expect(missing.status).toBe(422);
    expect(missing.json.details.causes).toContainEqual(expect.objectContaining({ field: 'spec.size', reason: 'FieldValueRequired' }));
    const strict = await raw(api, 'POST', `${W}?fieldValidation=Strict`, {
      apiVersion: 'test.gantry.dev/v1',
      kind: 'Widget',
      metadata: { name: 'strict' },
      spec: { size: 'small', bogus: 1 },
    });
    expect(strict.status).toBe(400);
    expect(strict.json.message).toBe('strict decoding error: unknown field "spec.bogus"');
    const warn = await raw(api, 'POST', W, {
      apiVersion: 'test.gantry.dev/v1',
      kind: 'Widget',
      metadata: { name: 'pruned' },
      spec: { size: 'small', bogus: 1, extra: { kept: true } },
    });
    expect(warn.status).toBe(201);
    expect(String(warn.headers.warning)).toContain('unknown field \\"spec.bogus\\"');
    expect(warn.json.spec).toEqual({ size: 'small', replicas: 1, color: 'blue', extra: { kept: true } });
    const gone = await raw(api, 'GET', `${W}/bad`);
    expect(gone.status).toBe(404);
  });

  it('deletes with finalizers: deletionTimestamp, no new finalizers, removal of the last one deletes', async () => {
    await widget('fin', { size: 'small' }, { finalizers: ['test.gantry.dev/hold'] });
    const pre = await raw(api, 'DELETE', `${W}/fin`, { preconditions: { uid: 'wrong' } });
    expect(pre.status).toBe(409);
    const del = await raw(api, 'DELETE', `${W}/fin`, { propagationPolicy: 'Background' });
    expect(del.status).toBe(200);
    expect(del.json.kind).toBe('Widget');
    expect(del.json.metadata.deletionTimestamp).toBeTruthy();
    expect(del.json.metadata.deletionGracePeriodSeconds).toBe(0);
    expect(del.json.metadata.generation).toBe(2);
    const add = await raw(
      api,
      'PATCH',
      `${W}/fin`,
      { metadata: { finalizers: ['test.gantry.dev/hold', 'test.gantry.dev/more'] } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(add.status).toBe(422);
    expect(add.json.message).toContain('Forbidden: no new finalizers can be added if the object is being deleted');
    const release = await raw(
      api,
      'PATCH',
      `${W}/fin`,
      { metadata: { finalizers: null } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    expect(release.status).toBe(200);
    expect((await raw(api, 'GET', `${W}/fin`)).status).toBe(404);
    await widget('plain');
    const imm = await raw(api, 'DELETE', `${W}/plain`);
    expect(imm.json).toMatchObject({
      kind: 'Status',
      status: 'Success',
      details: { name: 'plain', group: 'test.gantry.dev', kind: 'widgets' },
    });
  });

  it('scale subresource reads and writes spec.replicas and bumps generation', async () => {
    await widget('sc', { size: 'small', replicas: 1 });
    const s = await raw(api, 'GET', `${W}/sc/scale`);
    expect(s.json).toMatchObject({ kind: 'Scale', apiVersion: 'autoscaling/v1', spec: { replicas: 1 }, status: { replicas: 0 } });
    const put = await raw(api, 'PUT', `${W}/sc/scale`, { ...s.json, spec: { replicas: 4 } });
    expect(put.json.spec.replicas).toBe(4);
    const stale = await raw(api, 'PUT', `${W}/sc/scale`, { ...s.json, spec: { replicas: 5 } });
    expect(stale.status).toBe(409);
    const w = await raw(api, 'GET', `${W}/sc`);
    expect(w.json.spec.replicas).toBe(4);
    expect(w.json.metadata.generation).toBe(2);
  });
});

describe('server-side apply', () => {
  const ssa = (name: string, body: unknown, q: string) =>
    raw(api, 'PATCH', `${W}/${name}?${q}`, body, { 'Content-Type': 'application/apply-patch+yaml' });

  it('creates, tracks managers, conflicts without force, transfers with force, removes omitted fields', async () => {
    const noMgr = await ssa(
      'ssa',
      { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name: 'ssa' }, spec: { size: 'small' } },
      '',
    );
    expect(noMgr.status).toBe(400);
    const a = await ssa(
      'ssa',
      'apiVersion: test.gantry.dev/v1\nkind: Widget\nmetadata:\n  name: ssa\n  labels: {team: a}\nspec:\n  size: small\n  x: 1\n',
      'fieldManager=alice',
    );
    expect(a.status, a.text).toBe(201);
    expect(a.json.metadata.managedFields).toEqual([
      expect.objectContaining({
        manager: 'alice',
        operation: 'Apply',
        fieldsV1: { 'f:metadata': { 'f:labels': { 'f:team': {} } }, 'f:spec': { 'f:size': {}, 'f:x': {} } },
      }),
    ]);
    const c = await ssa(
      'ssa',
      { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name: 'ssa' }, spec: { size: 'large' } },
      'fieldManager=bob',
    );
    expect(c.status).toBe(409);
    expect(c.json.message).toBe('Apply failed with 1 conflict: conflict with "alice" using test.gantry.dev/v1: .spec.size');
    const same = await ssa(
      'ssa',
      { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name: 'ssa' }, spec: { size: 'small' } },
      'fieldManager=bob',
    );
    expect(same.status).toBe(200); // co-ownership of an equal value is no conflict
    const forced = await ssa(
      'ssa',
      { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name: 'ssa' }, spec: { size: 'large' } },
      'fieldManager=bob&force=true',
    );
    expect(forced.status).toBe(200);
    expect(forced.json.spec.size).toBe('large');
    const alice = forced.json.metadata.managedFields.find((m: { manager: string }) => m.manager === 'alice');
    expect(alice.fieldsV1['f:spec']).toEqual({ 'f:x': {} });
    // alice stops applying x and the label: they go away
    const dropped = await ssa(
      'ssa',
      { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name: 'ssa' }, spec: { size: 'large' } },
      'fieldManager=alice',
    );
    expect(dropped.status).toBe(200);
    expect(dropped.json.spec.x).toBeUndefined();
    expect(dropped.json.metadata.labels?.team).toBeUndefined();
  });

  it('merges set and map lists by their keys', async () => {
    await ssa(
      'lists',
      {
        apiVersion: 'test.gantry.dev/v1',
        kind: 'Widget',
        metadata: { name: 'lists' },
        spec: { size: 'small', tags: ['a'], parts: [{ name: 'p1', count: 1 }] },
      },
      'fieldManager=m1',
    );
    const r = await ssa(
      'lists',
      {
        apiVersion: 'test.gantry.dev/v1',
        kind: 'Widget',
        metadata: { name: 'lists' },
        spec: { tags: ['b'], parts: [{ name: 'p2', count: 2 }] },
      },
      'fieldManager=m2',
    );
    expect(r.status, r.text).toBe(200);
    expect(r.json.spec.tags).toEqual(['a', 'b']);
    expect(r.json.spec.parts).toEqual([
      { name: 'p1', count: 1 },
      { name: 'p2', count: 2 },
    ]);
  });
});

describe('list and watch', () => {
  beforeAll(async () => {
    for (let i = 0; i < 5; i++)
      await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', {
        metadata: { name: `page-${i}`, labels: { set: 'paging', idx: String(i), ...(i % 2 ? { odd: 'yes' } : {}) } },
      });
  });

  it('pages with limit/continue; the last page has no continue', async () => {
    const seen: string[] = [];
    let cont = '';
    for (let pages = 0; pages < 10; pages++) {
      const r = await raw(
        api,
        'GET',
        `/api/v1/namespaces/default/configmaps?labelSelector=set%3Dpaging&limit=2${cont ? `&continue=${cont}` : ''}`,
      );
      expect(r.json.kind).toBe('ConfigMapList');
      seen.push(...r.json.items.map((i: { metadata: { name: string } }) => i.metadata.name));
      cont = r.json.metadata.continue ?? '';
      if (!cont) break;
    }
    expect(seen).toEqual(['page-0', 'page-1', 'page-2', 'page-3', 'page-4']);
  });

  it('honours label and field selectors', async () => {
    const names = async (q: string) =>
      (await raw(api, 'GET', `/api/v1/namespaces/default/configmaps?${q}`)).json.items.map(
        (i: { metadata: { name: string } }) => i.metadata.name,
      );
    expect(await names('labelSelector=' + encodeURIComponent('set=paging,odd'))).toEqual(['page-1', 'page-3']);
    expect(await names('labelSelector=' + encodeURIComponent('set==paging,!odd,idx notin (4)'))).toEqual(['page-0', 'page-2']);
    expect(await names('labelSelector=' + encodeURIComponent('idx in (1,4),idx!=4'))).toEqual(['page-1']);
    expect(await names('fieldSelector=' + encodeURIComponent('metadata.name=page-2'))).toEqual(['page-2']);
    expect(
      await names('labelSelector=set%3Dpaging&fieldSelector=' + encodeURIComponent('metadata.name!=page-2,metadata.namespace=default')),
    ).toEqual(['page-0', 'page-1', 'page-3', 'page-4']);
    const bad = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?fieldSelector=spec.nope%3D1');
    expect(bad.status).toBe(400);
    await raw(api, 'POST', '/api/v1/namespaces/default/events', {
      metadata: { name: 'ev1' },
      involvedObject: { kind: 'Widget', name: 'x', namespace: 'default', uid: 'u1' },
      reason: 'Tested',
      message: 'hi',
    });
    const evs = await raw(
      api,
      'GET',
      '/api/v1/namespaces/default/events?fieldSelector=' +
        encodeURIComponent('involvedObject.name=x,involvedObject.kind=Widget,involvedObject.uid=u1'),
    );
    expect(evs.json.items.map((e: { reason: string }) => e.reason)).toEqual(['Tested']);
  });

  it('watch replays from a resourceVersion, reports selector transitions, sends bookmarks only when asked', async () => {
    const start = (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?limit=1')).json.metadata.resourceVersion;
    await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'tr', labels: { pick: 'yes' } } });
    const s = await watch(api, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${start}&labelSelector=pick%3Dyes`);
    await s.waitFor((e) => e.length === 1);
    await raw(
      api,
      'PATCH',
      '/api/v1/namespaces/default/configmaps/tr',
      { metadata: { labels: { pick: 'no' } } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    await raw(
      api,
      'PATCH',
      '/api/v1/namespaces/default/configmaps/tr',
      { metadata: { labels: { pick: 'yes' } } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    await raw(
      api,
      'PATCH',
      '/api/v1/namespaces/default/configmaps/tr',
      { data: { a: 'b' } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/tr');
    const evs = await s.waitFor((e) => e.length >= 5);
    s.close();
    expect(evs.map((e) => e.type)).toEqual(['ADDED', 'DELETED', 'ADDED', 'MODIFIED', 'DELETED']);
    expect(evs[1].object.metadata.labels.pick).toBe('yes'); // the previous state, leaving the selector
    const rvs = evs.map((e) => Number(e.object.metadata.resourceVersion));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    expect(evs.some((e) => e.type === 'BOOKMARK')).toBe(false);
  });

  it('sendInitialEvents ends the initial burst with an annotated bookmark; timeoutSeconds closes the stream', async () => {
    const s = await watch(
      api,
      '/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&labelSelector=set%3Dpaging&timeoutSeconds=1',
    );
    await s.ended;
    const types = s.events.map((e) => e.type);
    expect(types.slice(0, 6)).toEqual(['ADDED', 'ADDED', 'ADDED', 'ADDED', 'ADDED', 'BOOKMARK']);
    expect(s.events[5].object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
    expect(types[types.length - 1]).toBe('BOOKMARK'); // the one before the timeout
  });

  it('serves the legacy /watch/ prefix, and a namespace named "watch" is just a name', async () => {
    const rv = (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?limit=1')).json.metadata.resourceVersion;
    const s = await watch(api, `/api/v1/watch/namespaces/default/configmaps?resourceVersion=${rv}`);
    await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name: 'legacy-watch' } });
    const evs = await s.waitFor((e) => e.length >= 1);
    s.close();
    expect(evs[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'legacy-watch' } } });
    expect((await raw(api, 'POST', '/api/v1/namespaces', { metadata: { name: 'watch' } })).status).toBe(201);
    const ns = await raw(api, 'GET', '/api/v1/namespaces/watch');
    expect(ns.status).toBe(200);
    expect(ns.json.kind).toBe('Namespace');
  });

  it('an RV older than the history is 410 Expired', async () => {
    const s = await watch(api, '/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=5');
    await s.ended;
    expect(s.events).toHaveLength(1);
    expect(s.events[0]).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    expect(s.events[0].object.message).toMatch(/^too old resource version: 5 \(\d+\)$/);
  });

  it('tables carry printer columns for custom resources and built-ins', async () => {
    await widget('tab', { size: 'medium', replicas: 3 });
    const t = await raw(api, 'GET', `${W}?labelSelector=`, undefined, {
      Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    expect(t.headers['content-type']).toBe('application/json;as=Table;v=v1;g=meta.k8s.io');
    expect(t.json.columnDefinitions.map((c: { name: string }) => c.name)).toEqual(['Name', 'Size', 'Replicas', 'Phase', 'Age']);
    const row = t.json.rows.find((r: { cells: unknown[] }) => r.cells[0] === 'tab');
    expect(row.cells.slice(0, 4)).toEqual(['tab', 'medium', 3, null]);
    expect(row.cells[4]).toMatch(/^\d+s$/);
    expect(row.object.kind).toBe('PartialObjectMetadata');
  });
});

describe('controllers', () => {
  it('garbage-collects dependents in background, foreground and orphan modes', async () => {
    const owner = async (name: string) => (await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', { metadata: { name } })).json;
    const dep = async (name: string, o: { metadata: { name: string; uid: string } }) =>
      raw(api, 'POST', '/api/v1/namespaces/default/secrets', {
        metadata: {
          name,
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: o.metadata.name, uid: o.metadata.uid, blockOwnerDeletion: true }],
        },
      });
    const bg = await owner('gc-bg');
    await dep('gc-bg-dep', bg);
    const fg = await owner('gc-fg');
    await dep('gc-fg-dep', fg);
    const or = await owner('gc-or');
    await dep('gc-or-dep', or);
    await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/gc-bg', { propagationPolicy: 'Background' });
    await eventually(
      async () => (await raw(api, 'GET', '/api/v1/namespaces/default/secrets/gc-bg-dep')).status === 404,
      5000,
      'background GC',
    );
    const f = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/gc-fg', { propagationPolicy: 'Foreground' });
    expect(f.json.metadata.finalizers).toContain('foregroundDeletion');
    await eventually(
      async () => (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/gc-fg')).status === 404,
      5000,
      'foreground GC',
    );
    expect((await raw(api, 'GET', '/api/v1/namespaces/default/secrets/gc-fg-dep')).status).toBe(404);
    await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps/gc-or', { propagationPolicy: 'Orphan' });
    await eventually(async () => (await raw(api, 'GET', '/api/v1/namespaces/default/configmaps/gc-or')).status === 404, 5000, 'orphan GC');
    const orphan = await raw(api, 'GET', '/api/v1/namespaces/default/secrets/gc-or-dep');
    expect(orphan.status).toBe(200);
    expect(orphan.json.metadata.ownerReferences).toBeUndefined();
  });

  it('a deleted namespace goes Terminating, refuses new content, empties, then disappears', async () => {
    await core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'held', finalizers: ['test/hold'] } } });
    const d = await raw(api, 'DELETE', '/api/v1/namespaces/doomed');
    expect(d.json.status.phase).toBe('Terminating');
    const refused = await raw(api, 'POST', '/api/v1/namespaces/doomed/configmaps', { metadata: { name: 'late' } });
    expect(refused.status).toBe(403);
    await eventually(
      async () => (await raw(api, 'GET', '/api/v1/namespaces/doomed/configmaps/held')).json?.metadata?.deletionTimestamp,
      5000,
      'content deletion',
    );
    expect((await raw(api, 'GET', '/api/v1/namespaces/doomed')).status).toBe(200);
    await raw(
      api,
      'PATCH',
      '/api/v1/namespaces/doomed/configmaps/held',
      { metadata: { finalizers: null } },
      { 'Content-Type': 'application/merge-patch+json' },
    );
    await eventually(async () => (await raw(api, 'GET', '/api/v1/namespaces/doomed')).status === 404, 5000, 'namespace removal');
  });

  it('deletecollection deletes what the selector matches', async () => {
    for (const n of ['dc1', 'dc2', 'dc3'])
      await raw(api, 'POST', '/api/v1/namespaces/default/configmaps', {
        metadata: { name: n, labels: { dc: n === 'dc3' ? 'keep' : 'drop' } },
      });
    const r = await raw(api, 'DELETE', '/api/v1/namespaces/default/configmaps?labelSelector=dc%3Ddrop');
    expect(r.status).toBe(200);
    expect(r.json.kind).toBe('ConfigMapList');
    expect(r.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['dc1', 'dc2']);
    const left = await raw(api, 'GET', '/api/v1/namespaces/default/configmaps?labelSelector=dc');
    expect(left.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['dc3']);
  });

  it('a deleted CRD waits for its instances (and their finalizers), then leaves discovery', async () => {
    const crd = parse(readFileSync(join(fixtures, 'widget-crd.yaml'), 'utf8').replaceAll('test.gantry.dev', 'doomed.gantry.dev'));
    expect((await raw(api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status).toBe(201);
    const D = '/apis/doomed.gantry.dev/v1/namespaces/default/widgets';
    expect(
      (await raw(api, 'POST', D, { apiVersion: 'doomed.gantry.dev/v1', kind: 'Widget', metadata: { name: 'a' }, spec: { size: 'small' } }))
        .status,
    ).toBe(201);
    expect(
      (
        await raw(api, 'POST', D, {
          apiVersion: 'doomed.gantry.dev/v1',
          kind: 'Widget',
          metadata: { name: 'held', finalizers: ['x/hold'] },
          spec: { size: 'small' },
        })
      ).status,
    ).toBe(201);
    const del = await raw(api, 'DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.doomed.gantry.dev');
    expect(del.json.metadata.deletionTimestamp).toBeTruthy();
    await eventually(async () => (await raw(api, 'GET', `${D}/a`)).status === 404, 5000, 'instance deletion');
    expect((await raw(api, 'GET', `${D}/held`)).json.metadata.deletionTimestamp).toBeTruthy();
    expect((await raw(api, 'GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.doomed.gantry.dev')).status).toBe(200);
    await raw(api, 'PATCH', `${D}/held`, { metadata: { finalizers: null } }, { 'Content-Type': 'application/merge-patch+json' });
    await eventually(
      async () =>
        (await raw(api, 'GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.doomed.gantry.dev')).status === 404,
      5000,
      'CRD removal',
    );
    expect((await raw(api, 'GET', '/apis/doomed.gantry.dev/v1')).status).toBe(404);
    expect((await raw(api, 'GET', D)).status).toBe(404);
  });

  it('custom resources appear in discovery and OpenAPI when their CRD is created', async () => {
    const agg = await raw(api, 'GET', '/apis', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json',
    });
    expect(agg.headers['content-type']).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const g = agg.json.items.find((i: { metadata: { name: string } }) => i.metadata.name === 'test.gantry.dev');
    expect(g.versions[0].resources[0]).toMatchObject({
      resource: 'widgets',
      scope: 'Namespaced',
      shortNames: ['wd'],
      categories: ['gantrytest'],
    });
    expect(g.versions[0].resources[0].subresources.map((s: { subresource: string }) => s.subresource)).toEqual(['status', 'scale']);
    const beta = await raw(api, 'GET', '/api', undefined, {
      Accept: 'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList',
    });
    expect(beta.json.apiVersion).toBe('apidiscovery.k8s.io/v2beta1');
    const legacy = await raw(api, 'GET', '/apis/test.gantry.dev/v1');
    expect(legacy.json.resources.map((r: { name: string }) => r.name)).toEqual(['widgets', 'widgets/status', 'widgets/scale']);
    const idx = await raw(api, 'GET', '/openapi/v3');
    const url = idx.json.paths['apis/test.gantry.dev/v1'].serverRelativeURL;
    expect(url).toMatch(/hash=/);
    const doc = await raw(api, 'GET', url);
    expect(
      doc.json.paths['/apis/test.gantry.dev/v1/namespaces/{namespace}/widgets/{name}'].patch['x-kubernetes-group-version-kind'],
    ).toEqual({ group: 'test.gantry.dev', version: 'v1', kind: 'Widget' });
  });

  it('client-node custom object calls work end to end', async () => {
    const created = await custom.createNamespacedCustomObject({
      group: 'test.gantry.dev',
      version: 'v1',
      namespace: 'default',
      plural: 'widgets',
      body: { apiVersion: 'test.gantry.dev/v1', kind: 'Widget', metadata: { name: 'cn' }, spec: { size: 'large' } },
    });
    expect(created.spec.replicas).toBe(1);
    const patched = await custom.patchNamespacedCustomObjectStatus(
      {
        group: 'test.gantry.dev',
        version: 'v1',
        namespace: 'default',
        plural: 'widgets',
        name: 'cn',
        body: { status: { phase: 'Ready' } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.status.phase).toBe('Ready');
  });
});
