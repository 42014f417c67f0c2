/**
 * ControllerRevisions as the API server keeps them (apps/v1 ValidateControllerRevision): the
 * emulator must refuse what the real server refuses, since the controller writes them.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../runtime/kube.js';
import { realKubectl, startTestApiServer, type TestApiServer } from '../../support/apiserver.js';

const path = '/apis/apps/v1/namespaces/default/controllerrevisions';
const body = (name: string, extra: Record<string, unknown>) => ({
  apiVersion: 'apps/v1',
  kind: 'ControllerRevision',
  metadata: { name },
  ...extra,
});

describe('ControllerRevision validation', () => {
  let api: TestApiServer;
  let client: KubeClient;
  beforeAll(async () => {
    api = await startTestApiServer();
    client = new KubeClient(api.kc);
  });
  afterAll(async () => {
    client?.close();
    await api?.stop();
  });

  const refused = async (p: Promise<unknown>) => {
    const err: any = await p.then(
      () => undefined,
      (e) => e,
    );
    expect(err, 'the write was accepted').toBeDefined();
    expect(err.code).toBe(422);
    return String(err.body?.message ?? err.message);
  };

  it('keeps free-form data and a revision number, absent meaning 0', async () => {
    const r = await client.create(
      path,
      body('kv-1', { data: { archive: { ref: 'r/kv', revision: 3 }, config: { nested: [1, { a: 'b' }] } }, revision: 2 }),
    );
    expect(r.data).toEqual({ archive: { ref: 'r/kv', revision: 3 }, config: { nested: [1, { a: 'b' }] } });
    expect(r.revision).toBe(2);
    const zero = await client.create(path, body('kv-0', { data: {} }));
    expect(zero.revision).toBe(0);
    // the number may change (a rollback renumbers it)
    expect((await client.mergePatch(`${path}/kv-1`, { revision: 5 })).revision).toBe(5);
  });

  it('refuses a missing data, a negative revision and a change of data, naming the field', async () => {
    expect(await refused(client.create(path, body('no-data', { revision: 1 })))).toMatch(/data: Required value/);
    expect(await refused(client.create(path, body('null-data', { data: null, revision: 1 })))).toMatch(/data: Required value/);
    expect(await refused(client.create(path, body('negative', { data: {}, revision: -1 })))).toMatch(
      /revision: Invalid value: -1: must be greater than or equal to 0/,
    );
    expect(await refused(client.mergePatch(`${path}/kv-1`, { data: { archive: { ref: 'r/other' } } }))).toMatch(
      /data: .*field is immutable/,
    );
    expect((await client.get(`${path}/kv-1`)).data.archive.ref).toBe('r/kv');
    // the same data, written back whole, is no change
    const live = await client.get(`${path}/kv-1`);
    expect((await client.replace(`${path}/kv-1`, { ...live, revision: 6 })).revision).toBe(6);
    // the same data with its keys in another order is not: the real server compares the bytes
    const reordered = { config: live.data.config, archive: { revision: 3, ref: 'r/kv' } };
    const again = await client.get(`${path}/kv-1`);
    expect(await refused(client.replace(`${path}/kv-1`, { ...again, data: reordered }))).toContain(
      'ControllerRevision.apps "kv-1" is invalid: data: Invalid value: {"config":{"nested":[1,{"a":"b"}]},"archive":{"revision":3,"ref":"r/kv"}}: field is immutable',
    );
  });

  it("kubectl get shows each one's controlling owner and revision", async () => {
    // owners that exist (the emulator's garbage collector removes what a missing owner owns)
    const cm = await client.create('/api/v1/namespaces/default/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cm' },
    });
    const lease = await client.create('/apis/coordination.k8s.io/v1/namespaces/default/leases', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'l' },
      spec: {},
    });
    const ownedBy = (name: string, revision: number, apiVersion: string, o: { kind?: string; metadata: { name: string; uid: string } }) =>
      client.create(path, {
        ...body(name, { data: {}, revision }),
        metadata: { name, ownerReferences: [{ apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true }] },
      });
    await ownedBy('t-lease', 3, 'coordination.k8s.io/v1', lease);
    await ownedBy('t-core', 1, 'v1', cm);
    const { stdout } = await promisify(execFile)(realKubectl(), [
      '--kubeconfig',
      api.kubeconfigPath,
      'get',
      'controllerrevisions',
      '-n',
      'default',
    ]);
    const rows = stdout
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/));
    expect(rows[0]).toEqual(['NAME', 'CONTROLLER', 'REVISION', 'AGE']);
    expect(rows.find((r) => r[0] === 't-lease')?.slice(0, 3)).toEqual(['t-lease', 'lease.coordination.k8s.io/l', '3']);
    expect(rows.find((r) => r[0] === 't-core')?.slice(0, 3)).toEqual(['t-core', 'configmap/cm', '1']);
    expect(rows.find((r) => r[0] === 'kv-0')?.slice(0, 3)).toEqual(['kv-0', '<none>', '0']);
  });
});
