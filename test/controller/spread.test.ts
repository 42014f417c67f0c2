/**
 * Spread over topology with the real controller on each API server (fake agents: Nodes and
 * agent Leases written by the test): zone spread with maxSkew 1, a zone whose nodes are full
 * holding replicas back under DoNotSchedule (the reason names the constraint) and not under
 * ScheduleAnyway, a zone of nodes of the wrong arch that is no domain, and weighted groups.
 * Each scenario has its own nodes (label `set`) and selects them, so the scenarios do not meet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLeaseName, annotations } from '../../api/common.js';
import type { RunningController } from '../../controller/index.js';
import { type Cluster, NS, startCluster, startClusterController, stopAll, waitFor } from './cluster.js';

const ZONE = 'topology.kubernetes.io/zone';
const scheduled = async (c: Cluster, name: string) => (await c.provider(name)).status?.conditions?.find((x: any) => x.type === 'Scheduled');

describe('spread over topology', () => {
  let c: Cluster;
  let ctl: RunningController;
  let ref = '';
  const zoneOf = new Map<string, string>();
  const node = async (name: string, set: string, labels: Record<string, string>, arch = 'amd64') => {
    await c.addNode(name, arch, 'linux', { labels: { set, ...labels } });
    if (labels[ZONE]) zoneOf.set(name, labels[ZONE]);
  };
  const perLabel = async (provider: string, of: Map<string, string>) => {
    const out: Record<string, number> = {};
    for (const i of await c.instances(provider)) out[of.get(i.spec.nodeName)!] = (out[of.get(i.spec.nodeName)!] ?? 0) + 1;
    return out;
  };

  beforeAll(async () => {
    c = await startCluster();
    ref = c.ref('acme/zoned');
    await c.publish('acme/zoned', { revision: 1, targets: ['x86_64-linux'] });
    // "even": zone-a is the biggest (plain scoring could put 4 there); zone-d has only arm nodes, which an x86-only archive cannot use
    for (const [n, z] of [
      ['ea1', 'a'],
      ['ea2', 'a'],
      ['ea3', 'a'],
      ['ea4', 'a'],
      ['eb1', 'b'],
      ['eb2', 'b'],
      ['ec1', 'c'],
      ['ec2', 'c'],
    ])
      await node(n, 'even', { [ZONE]: `zone-${z}` });
    for (const n of ['ed1', 'ed2']) await node(n, 'even', { [ZONE]: 'zone-d' }, 'arm64');
    // "full": zone-c's agents take no more instances (their Lease says so)
    for (const [n, z] of [
      ['fa1', 'a'],
      ['fa2', 'a'],
      ['fb1', 'b'],
      ['fb2', 'b'],
      ['fc1', 'c'],
      ['fc2', 'c'],
    ])
      await node(n, 'full', { [ZONE]: `zone-${z}` });
    for (const n of ['fc1', 'fc2'])
      await c.client.mergePatch(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${agentLeaseName(n)}`, {
        metadata: { annotations: { [annotations.agentMaxInstances]: '0' } },
      });
    ctl = await startClusterController(c, { kubeConfig: c.controllerKc });
  }, 60_000);
  afterAll(() => stopAll(ctl, c));

  it('6 replicas over 3 zones with maxSkew 1 go 2/2/2; the arm-only zone is no domain and is named as skipped', async () => {
    await c.applyProvider('even', {
      archive: { ref },
      replicas: 6,
      nodeSelector: { set: 'even' },
      topologySpread: [{ topologyKey: ZONE, maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' }],
    });
    await waitFor('6 instances', async () => (await c.instances('even')).length === 6);
    expect(await perLabel('even', zoneOf)).toEqual({ 'zone-a': 2, 'zone-b': 2, 'zone-c': 2 });
    const cond = await waitFor('Scheduled=True', async () => {
      const s = await scheduled(c, 'even');
      return s?.status === 'True' && s;
    });
    expect(cond.message).toContain('2 nodes arm64/linux: archive has no aarch64-linux binary');
  });

  it('with zone-c full, DoNotSchedule leaves 2 of 4 replicas unplaced naming the constraint; ScheduleAnyway places them', async () => {
    await c.applyProvider('strict', {
      archive: { ref },
      replicas: 4,
      nodeSelector: { set: 'full' },
      topologySpread: [{ topologyKey: ZONE, maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' }],
    });
    const spreadReason =
      '2 nodes amd64/linux: TopologySpread: topology.kubernetes.io/zone maxSkew 1 would be exceeded (zone-a 1, zone-b 1, zone-c 0)';
    const cond = await waitFor('Scheduled=False naming the topology spread', async () => {
      const s = await scheduled(c, 'strict');
      return s?.status === 'False' && s.message.includes('TopologySpread') && s;
    });
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toMatch(/^2 of 4 replicas cannot be placed: /);
    expect(cond.message).toContain(spreadReason);
    expect(await perLabel('strict', zoneOf)).toEqual({ 'zone-a': 1, 'zone-b': 1 });
    const ev = await waitFor('FailedScheduling event', async () =>
      (await c.events('strict')).find((e: any) => e.reason === 'FailedScheduling' && e.message.includes('TopologySpread')),
    );
    expect(ev.message).toContain(spreadReason);

    await c.patchProvider('strict', { topologySpread: [{ topologyKey: ZONE, maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway' }] });
    await waitFor('4 instances', async () => (await c.instances('strict')).length === 4);
    expect(await perLabel('strict', zoneOf)).toEqual({ 'zone-a': 2, 'zone-b': 2 });
    await waitFor('Scheduled=True', async () => (await scheduled(c, 'strict'))?.status === 'True');
  });

  it('weighted 2:1 over two groups with 6 replicas → 4/2, each inside its group', async () => {
    const region = new Map<string, string>();
    for (const [n, r] of [
      ['we1', 'east'],
      ['we2', 'east'],
      ['we3', 'east'],
      ['we4', 'east'],
      ['ww1', 'west'],
      ['ww2', 'west'],
      ['ww3', 'west'],
    ]) {
      await node(n, 'weighted', { region: r });
      region.set(n, r);
    }
    await c.applyProvider('weighted', {
      archive: { ref },
      replicas: 6,
      nodeSelector: { set: 'weighted' },
      spread: [
        { name: 'east', nodeSelector: { region: 'east' }, weight: 2 },
        { name: 'west', nodeSelector: { region: 'west' }, weight: 1 },
      ],
    });
    await waitFor('6 instances', async () => (await c.instances('weighted')).length === 6);
    expect(await perLabel('weighted', region)).toEqual({ east: 4, west: 2 });
    await waitFor('Scheduled=True', async () => (await scheduled(c, 'weighted'))?.status === 'True');
    // one more: the shares of 7 are 5/2 (largest remainder), but east has only 4 nodes: the
    // replica stays unplaced under east's name, and west does not take it
    await c.patchProvider('weighted', { replicas: 7 });
    const cond = await waitFor('Scheduled=False for east', async () => {
      const s = await scheduled(c, 'weighted');
      return s?.status === 'False' && s;
    });
    expect(cond.reason).toBe('Unschedulable');
    expect(cond.message).toMatch(/^1 of 7 replicas cannot be placed: /);
    expect(cond.message).toContain('spread group east (5 replicas): 4 nodes amd64/linux: already runs an instance of this Provider');
    expect(await perLabel('weighted', region)).toEqual({ east: 4, west: 2 });
  });

  it('bad spread specs: minDomains with ScheduleAnyway is InvalidSpec; a duplicate group is refused by the real API server, else InvalidSpec', async () => {
    await c.applyProvider('mindomains', {
      archive: { ref },
      nodeSelector: { set: 'even' },
      topologySpread: [{ topologyKey: ZONE, maxSkew: 1, whenUnsatisfiable: 'ScheduleAnyway', minDomains: 2 }],
    });
    const resolved = async (name: string) => {
      const r = (await c.provider(name)).status?.conditions?.find((x: any) => x.type === 'Resolved');
      return r?.status === 'False' && r;
    };
    const bad = await waitFor('Resolved=False', () => resolved('mindomains'));
    expect(bad.reason).toBe('InvalidSpec');
    expect(bad.message).toBe('spec.topologySpread.0.minDomains: minDomains is only allowed with whenUnsatisfiable DoNotSchedule');
    expect(await c.instances('mindomains')).toEqual([]);

    const twice = { archive: { ref }, spread: [{ name: 'east' }, { name: 'east', weight: 2 }] };
    if (c.api.ground === 'real') {
      // x-kubernetes-list-type: map with key name: the server itself names the duplicate
      await expect(c.applyProvider('twice', twice)).rejects.toThrow(/spec\.spread\[1\]: Duplicate value/);
    } else {
      await c.applyProvider('twice', twice);
      const r = await waitFor('Resolved=False', () => resolved('twice'));
      expect(r.reason).toBe('InvalidSpec');
      expect(r.message).toBe('spec.spread: two spread groups with the same name');
      expect(await c.instances('twice')).toEqual([]);
    }
  });
});
