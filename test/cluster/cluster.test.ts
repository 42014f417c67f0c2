/**
 * Gantry as an operator runs it, end to end on a real cluster: scripts/cluster.sh up (3 nodes,
 * kubelet + containerd + runc, each node in its own network namespace), then
 * scripts/cluster/gantry.sh up --release v0.1.0 — the previous release's image and manifests from
 * its tag: membrane, trust, its `kubectl apply -k deploy/overlays/cluster`, echo signed, pushed,
 * applied and called. upgrade.ts upgrades that install to this tree under load (and rolls the
 * agents once more) — the tests after it run on the upgraded install, which is what a fresh
 * install of this tree is. Then each test takes one thing away the way it goes
 * away in production (an agent pod, a kubelet, a drain, the leader, a NATS server, the whole
 * install) and waits for the cluster to answer. One file, so its tests never run beside each
 * other; they run in order and each leaves echo Ready for the next.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, clusterBlocker, repo, until } from '../support/cluster.js';
import { RELEASE, upgradeTests } from './upgrade.js';

const blocker = clusterBlocker();
const NS = 'gantry-system';
const times: Record<string, number> = {};
// run in an agent container: what it sees of the cache, of the directory above it, and of a
// sibling node's directory by a relative path (none of the other nodes' must be reachable)
const PEEK = `const fs = require('node:fs');
const code = (f) => { try { f(); return 'visible'; } catch (e) { return e.code; } };
console.log(JSON.stringify({
  own: fs.readdirSync('/var/cache/gantry').sort(),
  parent: code(() => fs.readdirSync('/var/cache/gantry/../gantry-n1')),
  sibling: code(() => fs.readdirSync('/var/cache/gantry/../../gantry-n1')),
}));`;

interface Instance {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName: string };
  status?: { phase?: string; startedAt?: string; restartCount?: number; lastTermination?: { reason?: string; message?: string } };
}

describe.skipIf(blocker)(`Gantry on a real cluster${blocker ? ` (skipped: ${blocker})` : ''}`, () => {
  const c = new Cluster(Number(process.env.GANTRY_TEST_CLUSTER_ID ?? 7));
  let nats = '';
  const instances = async (): Promise<Instance[]> =>
    (await c.json<{ items: Instance[] }>('get', 'providerinstances', '-n', 'default', '-l', 'gantry.dev/provider=echo')).items.filter(
      (i) => !i.metadata.deletionTimestamp,
    );
  const running = (is: Instance[], n: number) => is.length === n && is.every((i) => i.status?.phase === 'Running');
  const readyReplicas = async (n: number) =>
    c.k('wait', 'provider/echo', '-n', 'default', `--for=jsonpath={.status.readyReplicas}=${n}`, '--timeout=120s');
  // as a caller would: with the client's retry policy (docs/protocol.md), so a call whose server
  // or host connection went away is tried again rather than counted lost; not a hidden retry
  // loop around the assertion (each call must still answer within its attempts)
  const callEcho = async (data: string) => {
    const r = await c.call(nats, 'echo', 'Echo', data, ['--retries', '3', '--timeout', '10000']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(data);
  };
  const agentPods = async (node: string) =>
    (
      await c.json<{ items: any[] }>(
        'get',
        'pods',
        '-n',
        NS,
        '-l',
        'app.kubernetes.io/name=gantry-agent',
        '--field-selector',
        `spec.nodeName=${node}`,
      )
    ).items;
  // both replicas Running again, none on `node`, and echo answering: after `event`
  const movedOff = async (node: string, event: string) => {
    const after = await until(
      `echo off ${node} after ${event}, 2 Running`,
      instances,
      (is) => running(is, 2) && is.every((i) => i.spec.nodeName !== node),
      120_000,
    );
    expect(after.map((i) => i.spec.nodeName)).not.toContain(node);
    await readyReplicas(2);
    await callEcho(`after ${event}`);
  };
  const timed = (name: string, fn: () => Promise<void>) => async () => {
    const t = Date.now();
    try {
      await fn();
    } finally {
      times[name] = Date.now() - t;
    }
  };

  beforeAll(async () => {
    let t = Date.now();
    const r = await c.script(['up', '--nodes', '3', '--no-gantry'], 540_000);
    times['cluster.sh up --no-gantry'] = Date.now() - t;
    if (r.code !== 0) throw new Error(`scripts/cluster.sh up failed (${r.code}):\n${r.err.slice(-4000)}`);
    // the previous release first (upgrade.ts moves it to this tree before the other tests)
    t = Date.now();
    const g = await c.gantrySh(['up', '--release', RELEASE], 540_000);
    times[`gantry.sh up --release ${RELEASE}`] = Date.now() - t;
    if (g.code !== 0) throw new Error(`scripts/cluster/gantry.sh up --release ${RELEASE} failed (${g.code}):\n${g.err.slice(-4000)}`);
    // gantry.sh's step times (the operator's path), for the report
    console.log(
      `${r.out}${r.err}${g.err}`
        .split('\n')
        .filter((l) => /^(gantry\.sh|cluster|release): .* (in )?[0-9.]+ ?s/.test(l))
        .join('\n'),
    );
    nats = await c.forwardNats();
  }, 900_000);

  afterAll(async () => {
    c.stopForwards();
    // its own step too: cluster.sh down runs it only when its `running` check says so
    const g = await c.gantrySh(['down'], 60_000);
    const r = await c.script(['down'], 180_000);
    if (g.code !== 0) throw new Error(`scripts/cluster/gantry.sh down failed: ${g.err}`);
    // the times, for docs/testing.md and the CI budget table
    console.log(
      Object.entries(times)
        .map(([k, v]) => `${(v / 1000).toFixed(1).padStart(7)} s  ${k}`)
        .join('\n'),
    );
    if (r.code !== 0) throw new Error(`scripts/cluster.sh down failed: ${r.err}`);
  }, 400_000);

  upgradeTests({ c, nats: () => nats, timed });

  it(
    'every Gantry pod is Ready: 2 controllers (one leader), 3 NATS servers, an agent and a host keeper on every node',
    timed('pods Ready', async () => {
      const pods = await c.json<{ items: any[] }>('get', 'pods', '-n', NS);
      const by = (name: string) => pods.items.filter((p) => p.metadata.labels['app.kubernetes.io/name'] === name);
      const ready = (p: any) => p.status.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True');
      const nodes = (await c.json<{ items: any[] }>('get', 'nodes')).items.map((n) => n.metadata.name).sort();
      expect(nodes).toHaveLength(3);
      expect(by('gantry-controller').filter(ready)).toHaveLength(2);
      expect(by('gantry-nats').filter(ready)).toHaveLength(3);
      for (const perNode of ['gantry-agent', 'gantry-host-keeper'])
        expect(
          by(perNode)
            .filter(ready)
            .map((p) => p.spec.nodeName)
            .sort(),
          perNode,
        ).toEqual(nodes);
      const lease = await c.json('get', 'lease', 'gantry-controller', '-n', NS);
      expect(by('gantry-controller').map((p) => p.metadata.name)).toContain(lease.spec.holderIdentity);
      // nothing runs as root or with a writable root filesystem (the chown init step aside)
      for (const p of pods.items)
        for (const ctr of p.spec.containers) {
          expect(ctr.securityContext.readOnlyRootFilesystem, `${p.metadata.name}/${ctr.name}`).toBe(true);
          expect(ctr.securityContext.capabilities.drop).toEqual(['ALL']);
          expect(p.spec.securityContext.runAsNonRoot).toBe(true);
        }
    }),
    300_000,
  );

  it(
    'echo is placed on a node whose arch has a binary and answers gantry call; an archive for another arch is not placed',
    timed('placed by arch and called', async () => {
      const [i] = await instances();
      const node = await c.json('get', 'node', i.spec.nodeName);
      const arch = { amd64: 'x86_64', arm64: 'aarch64' }[node.metadata.labels['kubernetes.io/arch'] as string];
      expect(arch).toBeDefined();
      await callEcho('hello from the host');
      // every "node" here shares one filesystem: the agent of another node must not see the
      // archives this node's agent cached (its hostPath is mounted at its own subPathExpr)
      const cache = join(c.gantryDir, 'cache');
      expect(readdirSync(join(cache, i.spec.nodeName)).length).toBeGreaterThan(0);
      const nodes = (await c.json<{ items: any[] }>('get', 'nodes')).items.map((n) => n.metadata.name as string);
      const otherNode = nodes.find((n) => n !== i.spec.nodeName) as string;
      const [otherAgent] = await agentPods(otherNode);
      const seen = await c.k('exec', '-n', NS, otherAgent.metadata.name, '-c', 'agent', '--', 'node', '-e', PEEK);
      expect(JSON.parse(seen)).toEqual({ own: readdirSync(join(cache, otherNode)).sort(), parent: 'ENOENT', sibling: 'ENOENT' });
      // the same library signed as aarch64 only: no node here can load it
      const other = arch === 'x86_64' ? 'aarch64' : 'x86_64';
      await c.publish('echo', 'gantry:echo', `echo-${other}`, `${other}-linux`);
      const manifest = join(c.gantryDir, 'echo-other.yaml');
      writeFileSync(
        manifest,
        `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: {name: echo-other, namespace: default}\nspec:\n  archive: {ref: ${c.registry}/examples/echo-${other}}\n  replicas: 1\n  capabilityId: gantry:echo\n`,
      );
      await c.k('apply', '-f', manifest);
      await c.k('wait', 'provider/echo-other', '-n', 'default', '--for=condition=Scheduled=False', '--timeout=60s');
      const p = await c.json('get', 'provider', 'echo-other', '-n', 'default');
      const scheduled = p.status.conditions.find((x: any) => x.type === 'Scheduled');
      expect(scheduled.message).toContain(`archive has no ${arch}-linux binary`);
      await c.k('delete', '-f', manifest, '--wait=true', '--timeout=60s');
    }),
    300_000,
  );

  it(
    "a host past its resources.memory is ended by the kernel in the host keeper's delegated memory cgroup, inside the pod",
    timed('memory cap enforced by the kernel', async () => {
      const ref = await c.publish('faulty', 'gantry:faulty', 'faulty');
      const manifest = join(c.gantryDir, 'faulty.yaml');
      writeFileSync(
        manifest,
        `apiVersion: gantry.dev/v1alpha1\nkind: Provider\nmetadata: {name: faulty, namespace: default}\nspec:\n  archive: {ref: ${ref}}\n  replicas: 1\n  capabilityId: gantry:faulty\n  resources: {memory: 160Mi}\n`,
      );
      await c.k('apply', '-f', manifest);
      await c.k('wait', 'provider/faulty', '-n', 'default', '--for=jsonpath={.status.readyReplicas}=1', '--timeout=120s');
      // the host runs in a child of this cluster's delegated directory, limited to 160 MiB
      const hosts = `/sys/fs/cgroup/memory/gantry${c.id}-hosts`;
      const [child] = readdirSync(hosts).filter((d) => d.includes('_default_faulty-'));
      expect(readFileSync(join(hosts, child, 'memory.limit_in_bytes'), 'utf8').trim()).toBe(String(160 * 1024 * 1024));
      const burst = await c.call(nats, 'faulty', 'Leak', JSON.stringify({ bytes: 1024 * 1024 * 1024 }), ['--timeout', '5000']);
      expect(burst.code).not.toBe(0);
      const [i] = await until(
        'the faulty instance to show OOMKilled',
        async () =>
          (await c.json<{ items: Instance[] }>('get', 'providerinstances', '-n', 'default', '-l', 'gantry.dev/provider=faulty')).items,
        (is) => is[0]?.status?.lastTermination?.reason === 'OOMKilled',
        60_000,
      );
      expect(i.status?.lastTermination?.message).toMatch(
        /^the kernel's OOM killer ended the host of default\/faulty-\S+ at its memory cgroup's limit of 160 MiB/,
      );
      await c.k('delete', '-f', manifest, '--wait=true', '--timeout=60s');
    }),
    300_000,
  );

  it(
    "an agent pod deleted: the DaemonSet starts another on its node, which adopts the node's host (still the same process) and serves",
    timed('agent pod deleted → host adopted', async () => {
      const [before] = await until('echo Running', instances, (is) => running(is, 1), 60_000);
      const node = before.spec.nodeName;
      const host = c.hostProcesses('echo').get(before.metadata.name);
      expect(host).toBeDefined();
      const [pod] = await agentPods(node);
      await c.k('delete', 'pod', '-n', NS, pod.metadata.name, '--wait=false');
      await until(
        `a new agent pod Ready on ${node}`,
        () => agentPods(node),
        (ps) =>
          ps.some(
            (p) => p.metadata.uid !== pod.metadata.uid && p.status.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'),
          ),
        120_000,
      );
      // the host lives in the node's host keeper, not in the agent's pod: the new agent adopts
      // it (same process, same instance, same restartCount) instead of starting it again
      const [after] = await until('echo Running under the new agent', instances, (is) => running(is, 1), 120_000);
      const [keeper] = (
        await c.json<{ items: any[] }>(
          'get',
          'pods',
          '-n',
          NS,
          '-l',
          'app.kubernetes.io/name=gantry-host-keeper',
          '--field-selector',
          `spec.nodeName=${node}`,
        )
      ).items;
      const why = async () =>
        `${(await c.kubectl(['logs', '-n', NS, keeper.metadata.name, '--tail=40'])).out}\nevents:\n${(await c.k('get', 'events', '-n', 'default', '--sort-by=.lastTimestamp')).split('\n').slice(-25).join('\n')}`;
      const now = c.hostProcesses('echo').get(before.metadata.name);
      expect(now, now === host ? '' : `the host was not adopted; the keeper's log:\n${await why()}`).toBe(host);
      expect([after.metadata.uid, after.status?.restartCount ?? 0]).toEqual([before.metadata.uid, before.status?.restartCount ?? 0]);
      await callEcho('after the agent restarted');
    }),
    300_000,
  );

  it(
    "the leader controller's pod deleted: the standby takes the Lease and reconciles a change made after the deletion",
    timed('leader deleted → standby acts', async () => {
      const lease = await c.json('get', 'lease', 'gantry-controller', '-n', NS);
      const leader = lease.spec.holderIdentity as string;
      await c.k('delete', 'pod', '-n', NS, leader, '--wait=false');
      await c.k('scale', 'provider/echo', '-n', 'default', '--replicas=2');
      await readyReplicas(2);
      const now = await c.json('get', 'lease', 'gantry-controller', '-n', NS);
      expect(now.spec.holderIdentity).not.toBe(leader);
      expect(new Set((await instances()).map((i) => i.spec.nodeName)).size).toBe(2);
    }),
    300_000,
  );

  it(
    'a NATS pod deleted: calls keep succeeding through the other two servers',
    timed('NATS pod deleted → calls keep succeeding', async () => {
      const old = await c.json('get', 'pod', 'gantry-nats-0', '-n', NS);
      await c.k('delete', 'pod', '-n', NS, 'gantry-nats-0', '--wait=false');
      let calls = 0;
      // calls go on while the server is gone and until its replacement is Ready
      for (;;) {
        await callEcho(`call ${calls++}`);
        const p = await c.kubectl(['get', 'pod', 'gantry-nats-0', '-n', NS, '-o', 'json']);
        if (p.code !== 0) continue;
        const pod = JSON.parse(p.out);
        if (pod.metadata.uid !== old.metadata.uid && pod.status.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'))
          break;
      }
      expect(calls).toBeGreaterThan(1);
      // the old port-forward went with the old pod: forward again for the tests that follow
      c.stopForwards();
      nats = await c.forwardNats();
      await callEcho('with three servers again');
    }),
    300_000,
  );

  it(
    'a node drained: it gets no new instance and its instance moves to another node',
    timed('node drained → instance moves', async () => {
      const before = await instances();
      const node = before[0].spec.nodeName;
      const d = await c.kubectl(['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=180s'], 200_000);
      expect(d.code, d.err).toBe(0);
      try {
        await movedOff(node, 'the drain');
      } finally {
        await c.k('uncordon', node);
      }
    }),
    300_000,
  );

  it(
    "a node's kubelet stopped: the node goes NotReady (its agent still renewing its Lease) and its instance is replaced elsewhere",
    timed('kubelet stopped → instance replaced', async () => {
      const before = await instances();
      const node = before[0].spec.nodeName;
      const stop = await c.script(['stop-kubelet', node], 60_000);
      expect(stop.code, stop.err).toBe(0);
      const stoppedAt = Date.now();
      try {
        await c.k('wait', `node/${node}`, '--for=condition=Ready=Unknown', '--timeout=90s');
        // the agent's container outlives its kubelet and keeps renewing its Lease: only the
        // Node's condition tells the controller this node is gone
        const lease = await c.json('get', 'lease', `gantry-agent-${node}`, '-n', NS);
        expect(Date.parse(lease.spec.renewTime)).toBeGreaterThan(stoppedAt);
        await movedOff(node, 'the node went NotReady');
      } finally {
        const start = await c.script(['start-kubelet', node], 60_000);
        expect(start.code, start.err).toBe(0);
        await c.k('wait', `node/${node}`, '--for=condition=Ready', '--timeout=120s');
      }
    }),
    300_000,
  );

  it(
    'kubectl delete -k deploy/overlays/cluster removes everything: finalizers complete, no Provider, instance or Secret left',
    timed('kubectl delete -k', async () => {
      c.stopForwards();
      const d = await c.kubectl(['delete', '-k', join(repo, 'deploy', 'overlays', 'cluster'), '--timeout=240s'], 260_000);
      expect(d.code, d.err).toBe(0);
      for (const ns of [NS, 'gantry-membrane', 'gantry-nodes']) {
        const r = await c.kubectl(['get', 'namespace', ns]);
        expect(r.err, ns).toContain('NotFound');
      }
      const crds = await c.k('get', 'crd', '-o', 'name');
      expect(crds).not.toContain('gantry.dev');
    }),
    300_000,
  );
});
