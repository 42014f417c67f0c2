/**
 * The agent's handover (agent/heartbeat.ts handOver, controller/providers/scheduling/nodes.ts
 * agentExpiresAt): an agent that stops and leaves its hosts to the node's host keeper writes
 * `gantry.dev/handover-until`, and the controller does not call the node lost until then —
 * never later than MAX_HANDOVER_MS past the grace, and never earlier than the grace. The
 * Lease is a real object on the API server (both grounds); the agent's Heartbeat writes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeViews } from '../../../controller/providers/node-views.js';
import { agentExpiresAt, type LeaseLike, MAX_HANDOVER_MS } from '../../../controller/providers/scheduling/nodes.js';
import { Heartbeat } from '../../../agent/heartbeat.js';
import { KubeClient } from '../../../runtime/kube.js';
import { logger } from '../../../runtime/log.js';
import { startTestApiServer, type TestApiServer } from '../../support/apiserver.js';

const at = (ms: number) => new Date(ms).toISOString();
const lease = (renewedAt: number, handover?: string): LeaseLike => ({
  metadata: { name: 'gantry-agent-n1', ...(handover !== undefined ? { annotations: { 'gantry.dev/handover-until': handover } } : {}) },
  spec: { holderIdentity: 'n1', renewTime: at(renewedAt) },
});

describe('agentExpiresAt', () => {
  const t = Date.parse('2026-12-06T12:00:00Z');
  it('is the last renewal plus the grace without a handover, or with one that is not a time', () => {
    expect(agentExpiresAt(lease(t), 20_000)).toBe(t + 20_000);
    expect(agentExpiresAt(lease(t, 'soon'), 20_000)).toBe(t + 20_000);
    expect(agentExpiresAt(undefined, 20_000)).toBeUndefined();
  });
  it('waits for the handover, bounded by MAX_HANDOVER_MS past the grace, and never ends before the grace', () => {
    expect(agentExpiresAt(lease(t, at(t + 60_000)), 20_000)).toBe(t + 60_000);
    expect(agentExpiresAt(lease(t, at(t + 20_000 + MAX_HANDOVER_MS)), 20_000)).toBe(t + 20_000 + MAX_HANDOVER_MS);
    expect(agentExpiresAt(lease(t, at(t + 10 * MAX_HANDOVER_MS)), 20_000)).toBe(t + 20_000 + MAX_HANDOVER_MS);
    expect(agentExpiresAt(lease(t, at(t + 5_000)), 20_000)).toBe(t + 20_000);
    expect(MAX_HANDOVER_MS).toBe(120_000);
  });
});

describe('a handover on a real Lease', () => {
  let api: TestApiServer;
  let kube: KubeClient;
  beforeAll(async () => {
    api = await startTestApiServer();
    kube = new KubeClient(api.kc);
    await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gantry-system' } }).catch(() => {});
  }, 60_000);
  afterAll(async () => {
    kube?.close();
    await api?.stop();
  });

  it('the stopping agent writes it, the controller keeps the node live until it ends, and the successor removes it', async () => {
    const beat = (node: string) =>
      new Heartbeat({ kube, namespace: 'gantry-system', node, target: 'x86_64-linux', log: logger('test'), renewIntervalMs: 60_000 });
    const path = '/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-agent-h1';
    const first = beat('h1');
    await first.start();
    const before = Date.now();
    await first.handOver(1_500);
    const handed = await kube.get(path);
    const until = Date.parse(handed.metadata.annotations['gantry.dev/handover-until']);
    expect(until).toBeGreaterThanOrEqual(before + 1_500);
    expect(until).toBeLessThan(Date.now() + 1_500 + 1_000);

    // the controller's view: live past the 300 ms grace, lost once the handover has passed
    const log: string[] = [];
    const views = new NodeViews({
      node: () => ({ metadata: { name: 'h1' } }),
      lease: () => handed,
      graceMs: 300,
      onAgentLive: (n) => log.push(`live ${n}`),
      onAgentLost: (n) => log.push(`lost ${n}`),
    });
    views.leaseChanged(handed);
    await new Promise((r) => setTimeout(r, 600));
    expect(log).toEqual(['live h1']);
    await new Promise((r) => setTimeout(r, until - Date.now() + 300));
    expect(log).toEqual(['live h1', 'lost h1']);
    views.stop();

    const successor = beat('h1');
    await successor.start();
    await successor.stop();
    expect((await kube.get(path)).metadata.annotations?.['gantry.dev/handover-until']).toBeUndefined();
  }, 30_000);
});
