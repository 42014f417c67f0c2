/**
 * The controller with a namespace mapping and digest pins (real registry, API emulator or
 * real API server, real controller): a Provider written with a short name runs the mapped
 * repository's archive and its instances carry the full ref; a pin that disagrees with the
 * revision is refused with its own reason while the pinned digest keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../controller/index.js';
import { parseNamespaceMap } from '../../registry/namespaces.js';
import { startCluster, startClusterController, stopAll, waitFor, type Cluster } from './cluster.js';

const resolvedCondition = (p: any) => p?.status?.conditions?.find((x: any) => x.type === 'Resolved');

describe('short names and digest pins in the controller', () => {
  let c: Cluster;
  let ctl: RunningController;
  let rev1 = '';
  let rev2 = '';

  beforeAll(async () => {
    c = await startCluster();
    await c.addNode('n1', 'amd64');
    rev1 = await c.publish('team/acme/kv', { revision: 1, targets: ['x86_64-linux'] });
    rev2 = await c.publish('team/acme/kv', { revision: 2, targets: ['x86_64-linux'] });
    const namespaces = parseNamespaceMap(`namespaces:\n  acme/*: ${c.ref('team/acme')}\n`, 'namespace-map.yaml');
    ctl = await startClusterController(c, { namespaces });
  }, 60_000);
  afterAll(() => stopAll(ctl, c));

  it('acme/kv resolves through the mapping; the instance names the full repository', async () => {
    await c.applyProvider('short', { archive: { ref: 'acme/kv', revision: 1 }, replicas: 1 });
    const [inst] = await waitFor('placed', async () => {
      const l = await c.instances('short');
      return l.length === 1 && l;
    });
    expect(inst.spec.archive).toMatchObject({ ref: c.ref('team/acme/kv'), digest: rev1, revision: 1 });
    const p = await waitFor('resolved', async () => (await c.provider('short'))?.status?.resolved && (await c.provider('short')));
    expect(p.status.resolved.ref).toBe(c.ref('team/acme/kv'));
  });

  it('an unmapped short name is InvalidRef saying which mapping to add', async () => {
    await c.applyProvider('unmapped', { archive: { ref: 'globex/kv' }, replicas: 1 });
    const cond = await waitFor(
      'InvalidRef',
      async () =>
        resolvedCondition(await c.provider('unmapped'))?.reason === 'InvalidRef' && resolvedCondition(await c.provider('unmapped')),
    );
    expect(cond.message).toMatch(/globex\/\*/);
    expect(await c.instances('unmapped')).toHaveLength(0);
  });

  it('a pin that agrees runs; moving the revision under a pin is DigestPinMismatch and the pinned digest keeps serving', async () => {
    await c.applyProvider('pinned', { archive: { ref: 'acme/kv', revision: 1, digest: rev1 }, replicas: 1 });
    await waitFor('placed', async () => (await c.instances('pinned')).length === 1);
    expect(await c.markRunning('pinned')).toBe(1);
    // revision 2 under revision 1's pin: the registry (or the author) disagrees with the pin
    await c.patchProvider('pinned', { archive: { ref: 'acme/kv', revision: 2, digest: rev1 } });
    const cond = await waitFor(
      'DigestPinMismatch',
      async () =>
        resolvedCondition(await c.provider('pinned'))?.reason === 'DigestPinMismatch' && resolvedCondition(await c.provider('pinned')),
    );
    expect(cond.status).toBe('False');
    expect(cond.message).toContain(rev1);
    expect(cond.message).toContain(rev2);
    expect(cond.message).toMatch(/Still serving revision 1/);
    expect((await c.events('pinned')).some((e) => e.type === 'Warning' && e.reason === 'DigestPinMismatch')).toBe(true);
    expect((await c.instances('pinned')).map((i) => i.spec.archive.digest)).toEqual([rev1]);
    expect((await c.provider('pinned')).status.resolved.digest).toBe(rev1);
  });
});
