/**
 * The controller keeps serving while one Provider's archive sits on a registry that trickles
 * (issue 29): a real docker-registry, a loopback proxy in front of it that passes every answer
 * on at 10 bytes a second, and the real controller with a 10 s --registry-deadline. A Provider
 * on the registry itself resolves and is placed while the one on the proxy is still waiting;
 * that one then fails at the deadline, Resolved=False RegistryUnavailable naming
 * REGISTRY_DEADLINE, and is retried like a registry that is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../controller/index.js';
import { startTricklingProxy, type TricklingProxy } from '../registry/trickling-proxy.js';
import { startCluster, startClusterController, stopAll, waitFor, type Cluster } from './cluster.js';

const resolvedCondition = (p: any) => p?.status?.conditions?.find((x: any) => x.type === 'Resolved');

describe('a trickling registry and the controller', () => {
  let c: Cluster;
  let ctl: RunningController | undefined;
  let proxy: TricklingProxy;

  beforeAll(async () => {
    c = await startCluster();
    await c.addNode('n1', 'amd64');
    proxy = await startTricklingProxy(Number(c.registry.host.split(':')[1]), { bytes: 1, tickMs: 100, from: 'head' });
    ctl = await startClusterController(c, {
      plainHttpRegistries: [c.registry.host, proxy.host],
      transferLimits: { deadlineMs: 10_000, minBytesPerSecond: 1024, rateWindowMs: 2_000 },
    });
  }, 60_000);
  afterAll(async () => {
    await stopAll(ctl, c);
    await proxy?.stop();
  });

  it('a Provider on a healthy registry is placed while one on a trickling registry waits; that one fails at the deadline with REGISTRY_DEADLINE', async () => {
    await c.publish('slow/kv', { revision: 1, targets: ['x86_64-linux'] });
    await c.publish('fast/kv', { revision: 1, targets: ['x86_64-linux'] });
    const started = Date.now();
    await c.heartbeat('n1');
    await c.applyProvider('slow', { archive: { ref: `${proxy.host}/slow/kv`, revision: 1 }, replicas: 1 });
    await c.applyProvider('fast', { archive: { ref: c.ref('fast/kv'), revision: 1 }, replicas: 1 });
    await waitFor('fast placed', async () => (await c.instances('fast')).length === 1);
    expect(await c.markRunning('fast')).toBe(1);
    expect(resolvedCondition(await c.provider('fast'))?.status).toBe('True');
    // the other is still waiting on its registry: not resolved, not failed, nothing placed
    expect(Date.now() - started).toBeLessThan(10_000);
    const waiting = resolvedCondition(await c.provider('slow'));
    expect(waiting?.status).not.toBe('True');
    expect(waiting?.reason ?? '').not.toBe('RegistryUnavailable');
    expect(await c.instances('slow')).toHaveLength(0);

    const failed = await waitFor(
      'slow RegistryUnavailable',
      async () => {
        const cond = resolvedCondition(await c.provider('slow'));
        return cond?.reason === 'RegistryUnavailable' && cond;
      },
      40_000,
    );
    expect(failed.status).toBe('False');
    expect(failed.message).toMatch(/slow\/kv.* did not finish within the 10000 ms deadline/);
    expect(await c.instances('slow')).toHaveLength(0);
    expect(await c.instances('fast')).toHaveLength(1);
  }, 90_000);
});
