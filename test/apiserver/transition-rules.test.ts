/**
 * A CRD's transition rule `self == oldSelf` (CapabilityGrant's spec.grantee), on both grounds:
 * every way of writing an update that changes the field — merge patch, JSON patch, PUT,
 * server-side apply — is refused 422 Invalid with the same Status (message, reason, causes)
 * from the API emulator as from the real kube-apiserver; an update that keeps it passes. The
 * emulator refuses a CRD with a rule it does not evaluate rather than ignore it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUser } from '@nats-io/nkeys';
import { capabilityGrantCrd, GRANTEE_IMMUTABLE } from '../../api/index.js';
import { grantsPath } from '../../controller/grants/reconcile.js';
import { KubeClient } from '../../runtime/kube.js';
import { controlPlaneAvailable, startTestApiServer, type ApiGround, type TestApiServer } from '../support/apiserver.js';
import { raw } from './http.js';

const NS = 'rules';
const grounds: ApiGround[] = controlPlaneAvailable() ? ['emulated', 'real'] : ['emulated'];
const servers = new Map<ApiGround, TestApiServer>();
const key = () => createUser().getPublicKey();
const first = key();

beforeAll(async () => {
  await Promise.all(
    grounds.map(async (ground) => {
      const api = await startTestApiServer({ ground, noDeployRbac: true });
      servers.set(ground, api);
      const kube = new KubeClient(api.kc);
      await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', capabilityGrantCrd());
      await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      for (;;) {
        const ok = await kube.list(grantsPath(NS)).then(
          () => true,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await kube.create(grantsPath(NS), {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'CapabilityGrant',
        metadata: { name: 'g' },
        spec: { grantee: { nkey: first }, provider: 'echo', operations: ['Echo'] },
      });
      kube.close();
    }),
  );
}, 180_000);

afterAll(async () => {
  for (const api of servers.values()) await api.stop();
});

const path = `${grantsPath(NS)}/g`;
const MERGE = { 'Content-Type': 'application/merge-patch+json' };

/** The same request on every ground: the replies, by ground. */
async function onEach(req: (api: TestApiServer) => Promise<{ status: number; json: any }>) {
  const out = new Map<ApiGround, { status: number; json: any }>();
  for (const [g, api] of servers) {
    const { status, json } = await req(api);
    out.set(g, { status, json });
  }
  return out;
}

function expectSameRefusal(replies: Map<ApiGround, { status: number; json: any }>, field: string, message: string) {
  const emulated = replies.get('emulated')!;
  expect(emulated.status).toBe(422);
  expect(emulated.json).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
  expect(emulated.json.details.causes).toContainEqual({ reason: 'FieldValueInvalid', field, message });
  const real = replies.get('real');
  if (real) expect(emulated).toEqual(real);
}

describe.each([
  ['merge patch', (api: TestApiServer, nkey: string) => raw(api, 'PATCH', path, { spec: { grantee: { nkey } } }, MERGE)],
  [
    'JSON patch',
    (api: TestApiServer, nkey: string) =>
      raw(api, 'PATCH', path, [{ op: 'replace', path: '/spec/grantee/nkey', value: nkey }], {
        'Content-Type': 'application/json-patch+json',
      }),
  ],
  [
    'PUT',
    async (api: TestApiServer, nkey: string) => {
      const live = (await raw(api, 'GET', path)).json;
      return raw(api, 'PUT', path, { ...live, spec: { ...live.spec, grantee: { nkey } } });
    },
  ],
  [
    'server-side apply',
    (api: TestApiServer, nkey: string) =>
      raw(
        api,
        'PATCH',
        `${path}?fieldManager=attacker&force=true`,
        JSON.stringify({
          apiVersion: 'gantry.dev/v1alpha1',
          kind: 'CapabilityGrant',
          metadata: { name: 'g' },
          spec: { grantee: { nkey }, provider: 'echo', operations: ['Echo'] },
        }),
        { 'Content-Type': 'application/apply-patch+yaml' },
      ),
  ],
])('spec.grantee (self == oldSelf) by %s', (_, write) => {
  it(`a new key is refused 422 Invalid, as on ${grounds.join(' and ')}; the old key stays`, async () => {
    const other = key();
    const replies = await onEach((api) => write(api, other));
    expectSameRefusal(replies, 'spec.grantee', `Invalid value: "object": ${GRANTEE_IMMUTABLE}`);
    expect(replies.get('emulated')!.json.message).toBe(
      `CapabilityGrant.gantry.dev "g" is invalid: spec.grantee: Invalid value: "object": ${GRANTEE_IMMUTABLE}`,
    );
    for (const api of servers.values()) expect((await raw(api, 'GET', path)).json.spec.grantee.nkey).toBe(first);
  });

  it('the same key passes', async () => {
    const replies = await onEach((api) => write(api, first));
    for (const r of replies.values()) expect(r.status).toBe(200);
  });
});

describe('other writes', () => {
  it('the rest of the spec changes freely', async () => {
    const replies = await onEach((api) => raw(api, 'PATCH', path, { spec: { operations: ['Echo', 'Whoami'] } }, MERGE));
    for (const r of replies.values()) {
      expect(r.status).toBe(200);
      expect(r.json.spec.operations).toEqual(['Echo', 'Whoami']);
    }
  });

  it('a key change with a wrong type: the type error, and the rules not checked (same Status)', async () => {
    const replies = await onEach((api) => raw(api, 'PATCH', path, { spec: { grantee: { nkey: 5 } } }, MERGE));
    const emulated = replies.get('emulated')!;
    expect(emulated.status).toBe(422);
    expect(emulated.json.details.causes.map((c: any) => c.field)).toEqual(['spec.grantee.nkey', '<nil>']);
    const real = replies.get('real');
    if (real) expect(emulated).toEqual(real);
  });

  it('the emulator refuses a CRD with a rule it does not evaluate, naming the rule', async () => {
    const api = servers.get('emulated')!;
    const crd = capabilityGrantCrd();
    crd.metadata.name = 'widgets.gantry.dev';
    crd.spec.names = { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' };
    crd.spec.versions[0].schema.openAPIV3Schema.properties.spec['x-kubernetes-validations'] = [{ rule: 'self.operations.size() < 3' }];
    const r = await raw(api, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    expect(r.status).toBe(422);
    expect(r.json.details.causes).toEqual([
      {
        reason: 'FieldValueForbidden',
        message: "Forbidden: the API emulator evaluates only `self == oldSelf` and the Provider CRD's spec.replicas owner rule",
        field: 'spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0]',
      },
    ]);
  });
});
