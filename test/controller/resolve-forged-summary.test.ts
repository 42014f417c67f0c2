/**
 * The controller never resolves to, nor schedules, an archive whose registry summary states
 * what its claims do not sign (issue 36): a revision re-tagged with a forged config blob sets
 * Resolved=False, SignatureInvalid, naming the forged field; a Provider that never resolved
 * gets no instances; one already serving keeps its last good revision. Same on the real API
 * server (the controller with deploy/base's RBAC).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgeSummary } from '../registry/forge-summary.js';
import { type Cluster, startCluster, startClusterController, stopAll, waitFor } from './cluster.js';
import type { RunningController } from '../../controller/index.js';

describe('resolving a revision whose summary was forged in the registry', () => {
  let c: Cluster;
  let ctl: RunningController;
  let ref: string;
  let forged: string;

  const resolvedCondition = async (name: string) =>
    (await c.provider(name)).status?.conditions?.find((x: { type: string }) => x.type === 'Resolved');

  beforeAll(async () => {
    c = await startCluster();
    ref = c.ref('acme/kv');
    await c.publish('acme/kv', { revision: 1, capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    await c.publish('acme/kv', { revision: 2, capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    // rev-2 re-tagged: its archive (the same layer) described as something it is not
    forged = await forgeSummary(c.registry.host, 'acme/kv', 'rev-2', (config) => {
      config.name = 'Evil KV';
      config.version = '9.9.9';
    });
    await c.addNode('amd', 'amd64');
    ctl = await startClusterController(c);
  }, 60_000);
  afterAll(async () => stopAll(ctl, c));

  it('a Provider on the highest revision: Resolved=False SignatureInvalid naming the field, nothing scheduled', async () => {
    await c.applyProvider('fresh', { archive: { ref }, replicas: 1, capabilityId: 'wascap:keyvalue' });
    const cond = await waitFor('Resolved condition', () => resolvedCondition('fresh'));
    expect(cond).toMatchObject({ status: 'False', reason: 'SignatureInvalid' });
    expect(cond.message).toContain(`${ref}:rev-2: summary field "name" says "Evil KV" but the signed claims say "kv"`);
    const p = await c.provider('fresh');
    expect(p.status.resolved).toBeUndefined();
    expect(JSON.stringify(p.status)).not.toContain('9.9.9');
    expect(await c.instances('fresh')).toHaveLength(0);
  });

  it('a Provider serving revision 1 asked for the forged revision 2 keeps revision 1', async () => {
    await c.applyProvider('serving', { archive: { ref, revision: 1 }, replicas: 1, capabilityId: 'wascap:keyvalue' });
    const good = await waitFor('revision 1 resolved and placed', async () => {
      const p = await c.provider('serving');
      return p.status?.resolved?.revision === 1 && (await c.instances('serving')).length === 1 && p;
    });
    expect(good.status.resolved).toMatchObject({ revision: 1, name: 'kv', version: '1.1.0', issuer: c.issuer });
    await c.patchProvider('serving', { archive: { ref, revision: 2 } });
    const cond = await waitFor('SignatureInvalid', async () => {
      const r = await resolvedCondition('serving');
      return r?.reason === 'SignatureInvalid' && r;
    });
    expect(cond.status).toBe('False');
    expect(cond.message).toContain('summary field "name" says "Evil KV"');
    const p = await c.provider('serving');
    expect(p.status.resolved.revision).toBe(1);
    expect(p.status.resolved.digest).not.toBe(forged);
    expect((await c.instances('serving')).map((i) => [i.spec.archive.revision, i.spec.archive.digest])).toEqual([
      [1, good.status.resolved.digest],
    ]);
  });
});
