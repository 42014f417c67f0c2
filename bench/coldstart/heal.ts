/**
 * Heal times with real processes: two agents and two leader-elected controllers (`gantry
 * agent`, `gantry controller`, default timings) on two Nodes. (1) The agent running a
 * Provider's one replica is SIGKILLed: time until a replacement is Running on the other
 * node, beside --agent-lease-grace. (2) The leading controller is SIGKILLed and the Provider
 * scaled up at once: time until the new leader has created the extra instance, beside
 * --leader-elect-lease-duration.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publicKeyFromSeed } from '../../par/index.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../../runtime/kube.js';
import { registerNodes } from '../../sandbox/launcher/cluster-objects.js';
import { parseNodeSpec } from '../../sandbox/launcher/node-spec.js';
import { agentArgs, type BenchCluster, gantry, killed, NS, publishEcho } from './cluster.js';

const GRACE_S = 20;
const LEASE_S = 15;

const providers = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS });
const instances = resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS });
type Inst = { metadata: { name: string; deletionTimestamp?: string }; spec: { nodeName: string }; status?: { phase?: string } };

/** Two agents and two controllers, by node name and by identity. */
interface HealCluster {
  dir: string;
  kube: KubeClient;
  /** the `heal` archive */
  ref: string;
  agents: Map<string, ChildProcess>;
  controllers: Map<string, ChildProcess>;
}

export async function measureHeal(o: BenchCluster, skip: boolean): Promise<string> {
  if (skip) return 'heal: skipped (--no-heal)';
  const h = await startHealCluster(o);
  try {
    await h.kube.create(providers, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: 'heal', namespace: NS },
      spec: { archive: { ref: h.ref }, replicas: 1, allowMultiplePerNode: true },
    });
    const agentLine = `heal: agent SIGKILLed → replacement Running on another node: ${(await agentHeal(h)).toFixed(1)} s (agent lease grace ${GRACE_S} s; aim ≤ ${GRACE_S + 5} s)`;
    const lease = (await h.kube
      .get(`/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-controller`)
      .catch(() => undefined)) as { spec?: { holderIdentity?: string } } | undefined;
    const leader = lease?.spec?.holderIdentity;
    if (!leader || !h.controllers.has(leader)) return `${agentLine}\nheal: controller leader not found (lease holder ${leader ?? 'none'})`;
    return [
      agentLine,
      `heal: controller leader SIGKILLed → new leader acting (scale-up placed): ${(await leaderHeal(h, leader)).toFixed(1)} s (leader lease duration ${LEASE_S} s; aim ≤ ${LEASE_S + 5} s)`,
    ].join('\n');
  } finally {
    await h.kube.delete(`${providers}/heal`).catch(() => {});
    for (const p of [...h.controllers.values(), ...h.agents.values()]) await killed(p, 'SIGTERM');
    h.kube.close();
    rmSync(h.dir, { recursive: true, force: true });
  }
}

/** Two Nodes with an agent each, the `heal` archive pushed, and two controllers. */
async function startHealCluster(o: BenchCluster): Promise<HealCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-heal-'));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, o.kubeConfigYaml);
  const kube = new KubeClient(loadKubeConfig({ kubeconfigYaml: o.kubeConfigYaml }));
  const nodes = parseNodeSpec('2');
  await registerNodes(kube, nodes);
  const { ref } = await publishEcho(o, 'heal');
  const agents = new Map(nodes.map((n) => [n.name, gantry(agentArgs(o, kubeconfig, n.name, join(dir, `cache-${n.name}`)))]));
  const controllerArgs = (id: string) => [
    'controller',
    '--kubeconfig',
    kubeconfig,
    '--trust-issuer',
    publicKeyFromSeed(o.issuerSeed),
    '--plain-http-registry',
    o.registry,
    '--identity',
    id,
    '--agent-lease-grace',
    `${GRACE_S}s`,
    '--leader-elect-lease-duration',
    `${LEASE_S}s`,
  ];
  const controllers = new Map(['bench-ctl-a', 'bench-ctl-b'].map((id) => [id, gantry(controllerArgs(id))]));
  return { dir, kube, ref, agents, controllers };
}

/** Seconds from SIGKILL of the agent running the one replica until a replacement runs on the other node. */
async function agentHeal(h: HealCluster): Promise<number> {
  await until('the first replica', async () => (await healInstances(h.kube)).some((i) => i.status?.phase === 'Running'));
  const victim = (await healInstances(h.kube)).find((i) => i.status?.phase === 'Running')!;
  const t0 = performance.now();
  await killed(h.agents.get(victim.spec.nodeName)!);
  await until('a replacement on the other node', async () =>
    (await healInstances(h.kube)).some((i) => i.spec.nodeName !== victim.spec.nodeName && i.status?.phase === 'Running'),
  );
  return (performance.now() - t0) / 1000;
}

/** Seconds from SIGKILL of the leading controller (and a scale-up) until the new leader placed the extra instance. */
async function leaderHeal(h: HealCluster, leader: string): Promise<number> {
  const before = (await healInstances(h.kube)).length;
  const t1 = performance.now();
  await killed(h.controllers.get(leader)!);
  await h.kube.mergePatch(`${providers}/heal`, { spec: { replicas: 2 } });
  await until('the new leader to scale up', async () => (await healInstances(h.kube)).length > before);
  return (performance.now() - t1) / 1000;
}

async function healInstances(kube: KubeClient): Promise<Inst[]> {
  return ((await kube.get(`${instances}?labelSelector=gantry.dev/provider%3Dheal`)) as { items: Inst[] }).items.filter(
    (i) => !i.metadata.deletionTimestamp,
  );
}

async function until(what: string, ok: () => Promise<boolean>, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`heal bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
