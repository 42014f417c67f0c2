/**
 * ControllerRevisions as the API server keeps them (apps/v1 ValidateControllerRevision): the
 * emulator must refuse what the real server refuses, since the controller writes them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../runtime/kube.js';
import { startTestApiServer, type TestApiServer } from '../../support/apiserver.js';

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
    expect(await refused(client.create(path, body('negative', { data: {}, revision: -1 })))).toMatch(
      /revision: Invalid value: -1: must be greater than or equal to 0/,
    );
    expect(await refused(client.mergePatch(`${path}/kv-1`, { data: { archive: { ref: 'r/other' } } }))).toMatch(
      /data: .*field is immutable/,
    );
    expect((await client.get(`${path}/kv-1`)).data.archive.ref).toBe('r/kv');
  });
});
