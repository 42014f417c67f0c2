/**
 * spec.replicas has exactly one owner when spec.autoscale is set (api/crds.ts REPLICAS_OWNER_RULE):
 * on both grounds, every way of changing it — `kubectl scale`, the scale subresource, merge patch,
 * PUT, server-side apply — is refused 422 with the same Status from the API emulator as from the
 * real kube-apiserver, naming spec.autoscale as the owner; a change to
 * status.autoscale.desiredReplicas (what the autoscaler writes first) passes, and so does any
 * scale of a Provider without spec.autoscale.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerCrd, REPLICAS_OWNER_MESSAGE, REPLICAS_OWNER_RULE } from '../../api/index.js';
import { EVALUATED_RULES, REPLICAS_OWNER } from '../../apiserver/cel.js';
import { KubeClient } from '../../runtime/kube.js';
import { controlPlaneAvailable, realKubectl, startTestApiServer, type ApiGround, type TestApiServer } from '../support/apiserver.js';
import { raw } from './http.js';

const run = promisify(execFile);
const NS = 'owner';
const grounds: ApiGround[] = controlPlaneAvailable() ? ['emulated', 'real'] : ['emulated'];
const servers = new Map<ApiGround, TestApiServer>();
const base = `/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers`;
const MERGE = { 'Content-Type': 'application/merge-patch+json' };
const autoscale = { minReplicas: 1, maxReplicas: 5, targetInFlightPerInstance: 2 };
const archive = { ref: 'registry.example/acme/echo' };

const provider = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: 'gantry.dev/v1alpha1',
  kind: 'Provider',
  metadata: { name },
  spec: { archive, ...spec },
});

beforeAll(async () => {
  await Promise.all(
    grounds.map(async (ground) => {
      const api = await startTestApiServer({ ground, noDeployRbac: true });
      servers.set(ground, api);
      const kube = new KubeClient(api.kc);
      await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', providerCrd());
      await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
      for (;;) {
        const ok = await kube.list(base).then(
          () => true,
          () => false,
        );
        if (ok) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await kube.create(base, provider('auto', { replicas: 1, autoscale }));
      await kube.create(base, provider('manual', { replicas: 1 }));
      kube.close();
    }),
  );
}, 180_000);

afterAll(async () => {
  for (const api of servers.values()) await api.stop();
});

/** The same request on every ground: the replies, by ground. */
async function onEach(req: (api: TestApiServer) => Promise<{ status: number; json: any }>) {
  const out = new Map<ApiGround, { status: number; json: any }>();
  for (const [g, api] of servers) {
    const { status, json } = await req(api);
    out.set(g, { status, json });
  }
  return out;
}

const kubectl = (api: TestApiServer, ...args: string[]) =>
  run(realKubectl(), ['--kubeconfig', api.kubeconfigPath, '-n', NS, ...args], { timeout: 60_000 }).then(
    (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
    (e) => ({ code: e.code as number, out: e.stdout as string, err: e.stderr as string }),
  );

const replicasOf = async (api: TestApiServer, name: string) => (await raw(api, 'GET', `${base}/${name}`)).json.spec.replicas;

function expectRefused(replies: Map<ApiGround, { status: number; json: any }>) {
  const emulated = replies.get('emulated')!;
  expect(emulated.status).toBe(422);
  expect(emulated.json).toMatchObject({ kind: 'Status', reason: 'Invalid', code: 422 });
  expect(emulated.json.details.causes).toContainEqual({
    reason: 'FieldValueForbidden',
    field: 'spec.replicas',
    message: `Forbidden: ${REPLICAS_OWNER_MESSAGE}`,
  });
  const real = replies.get('real');
  if (real) expect(emulated).toEqual(real);
}

it('the CRD carries the rule the emulator evaluates', () => {
  expect(REPLICAS_OWNER_RULE).toBe(REPLICAS_OWNER);
  expect(EVALUATED_RULES).toContain(REPLICAS_OWNER);
  expect(providerCrd().spec.versions[0].schema.openAPIV3Schema['x-kubernetes-validations']).toEqual([
    { rule: REPLICAS_OWNER_RULE, message: REPLICAS_OWNER_MESSAGE, fieldPath: '.spec.replicas', reason: 'FieldValueForbidden' },
  ]);
});

describe.each([
  [
    'the scale subresource (PUT)',
    (api: TestApiServer, replicas: number) =>
      raw(api, 'GET', `${base}/auto/scale`).then((s) =>
        raw(api, 'PUT', `${base}/auto/scale`, {
          ...s.json,
          metadata: { ...s.json.metadata, resourceVersion: undefined },
          spec: { replicas },
        }),
      ),
  ],
  [
    'the scale subresource (merge patch)',
    (api: TestApiServer, replicas: number) => raw(api, 'PATCH', `${base}/auto/scale`, { spec: { replicas } }, MERGE),
  ],
  ['merge patch', (api: TestApiServer, replicas: number) => raw(api, 'PATCH', `${base}/auto`, { spec: { replicas } }, MERGE)],
  [
    'PUT',
    async (api: TestApiServer, replicas: number) => {
      const live = (await raw(api, 'GET', `${base}/auto`)).json;
      return raw(api, 'PUT', `${base}/auto`, { ...live, spec: { ...live.spec, replicas } });
    },
  ],
  [
    'server-side apply',
    (api: TestApiServer, replicas: number) =>
      raw(api, 'PATCH', `${base}/auto?fieldManager=hand&force=true`, JSON.stringify(provider('auto', { replicas, autoscale })), {
        'Content-Type': 'application/apply-patch+yaml',
      }),
  ],
])('spec.replicas of a Provider with spec.autoscale, by %s', (_, write) => {
  it(`any value but status.autoscale.desiredReplicas is refused 422, as on ${grounds.join(' and ')}; replicas stay`, async () => {
    const before = new Map<ApiGround, number>();
    for (const [g, api] of servers) before.set(g, await replicasOf(api, 'auto'));
    expectRefused(await onEach((api) => write(api, before.get('emulated')! + 3)));
    for (const [g, api] of servers) expect(await replicasOf(api, 'auto')).toBe(before.get(g));
  });

  it('the value status.autoscale.desiredReplicas names passes (what the autoscaler writes)', async () => {
    const desired = ((await replicasOf(servers.get('emulated')!, 'auto')) % 5) + 1;
    for (const api of servers.values())
      expect((await raw(api, 'PATCH', `${base}/auto/status`, { status: { autoscale: { desiredReplicas: desired } } }, MERGE)).status).toBe(
        200,
      );
    const replies = await onEach((api) => write(api, desired));
    for (const r of replies.values()) expect(r.status).toBe(200);
    for (const api of servers.values()) expect(await replicasOf(api, 'auto')).toBe(desired);
  });
});

describe('kubectl scale', () => {
  it('is refused for a Provider with spec.autoscale, with the message naming the owner', async () => {
    for (const api of servers.values()) {
      const before = await replicasOf(api, 'auto');
      const r = await kubectl(api, 'scale', 'provider/auto', `--replicas=${before + 2}`);
      expect(r.code).not.toBe(0);
      expect(r.err).toContain(`spec.replicas: Forbidden: ${REPLICAS_OWNER_MESSAGE}`);
      expect(await replicasOf(api, 'auto')).toBe(before);
    }
  });

  it('works as before for a Provider without spec.autoscale', async () => {
    for (const api of servers.values()) {
      const r = await kubectl(api, 'scale', 'provider/manual', '--replicas=4');
      expect(r.err).toBe('');
      expect(await replicasOf(api, 'manual')).toBe(4);
    }
  });

  it('works again once spec.autoscale is removed (in the same write as a new replicas, too)', async () => {
    const replies = await onEach((api) => raw(api, 'PATCH', `${base}/auto`, { spec: { autoscale: null, replicas: 2 } }, MERGE));
    for (const r of replies.values()) expect(r.status).toBe(200);
    for (const api of servers.values()) {
      expect((await kubectl(api, 'scale', 'provider/auto', '--replicas=3')).code).toBe(0);
      expect(await replicasOf(api, 'auto')).toBe(3);
    }
  });
});
