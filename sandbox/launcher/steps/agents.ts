/**
 * Step 5, the agents: per sandbox node a `gantry host-keeper` (the parent of the node's provider
 * hosts, so an agent can be restarted without them, as deploy/base's gantry-host-keeper) and a
 * `gantry agent` using it, the same commands a cluster runs, all started at once; each agent is
 * ready when it has renewed its node's Lease. A foreign node's agent runs with --target of its
 * arch, so it shows placement without loading its binaries.
 */
import type { KubeClient } from '../../../runtime/kube.js';
import { resourcePath } from '../../../runtime/kube.js';
import { statSync } from 'node:fs';
import { gantryBin } from '../../../runtime/paths.js';
import { CREDENTIALS_NAMESPACE, GANTRY_NAMESPACE } from '../cluster-objects.js';
import type { Launch } from '../launch.js';
import type { SandboxNode } from '../node-spec.js';

export interface AgentsOptions {
  /** Each node's agent kubeconfig (on the real ground a token bound to that Node). */
  kubeconfig(node: string): Promise<string>;
  issuer: string;
  plainHttpRegistries: string[];
  /** How long an agent may take to publish its Lease (default 30 s). */
  startTimeoutMs?: number;
}

export async function startAgents(l: Launch, o: AgentsOptions): Promise<void> {
  const keepers = l.st.nodes.map((n) =>
    l.child({
      name: `keeper-${n.name}`,
      command: process.execPath,
      args: [gantryBin(), 'host-keeper', '--socket', l.sd.keeperSocket(n.name), '--node', n.name, '--records', l.sd.keeperRecords(n.name)],
      logFile: l.sd.log(`keeper-${n.name}`),
      ready: async () => isSocket(l.sd.keeperSocket(n.name)),
      startTimeoutMs: o.startTimeoutMs ?? 30_000,
    }),
  );
  await Promise.all(keepers.map((k) => k.start()));
  l.checkInterrupted();
  const kubeconfigs = await Promise.all(l.st.nodes.map((n) => o.kubeconfig(n.name)));
  const agents = l.st.nodes.map((n, i) =>
    l.child({
      name: `agent-${n.name}`,
      command: process.execPath,
      args: agentArgs(l, n, o, kubeconfigs[i]!),
      logFile: l.sd.log(`agent-${n.name}`),
      ready: () => leaseRenewedSince(l.kube!, n.name, Date.now() - 60_000),
      startTimeoutMs: o.startTimeoutMs ?? 30_000,
    }),
  );
  // agents start in parallel: each waits for its own Lease
  await Promise.all(agents.map((a) => a.start()));
  l.checkInterrupted();
  l.say(`  agents         ${agents.map((a) => `${a.name.replace(/^agent-/, '')} (pid ${a.pid})`).join(', ')}`);
}

function agentArgs(l: Launch, n: SandboxNode, o: AgentsOptions, kubeconfig: string): string[] {
  return [
    gantryBin(),
    'agent',
    '--kubeconfig',
    kubeconfig,
    '--node',
    n.name,
    '--nats',
    l.natsUrl,
    '--nats-ca',
    l.sd.natsCa,
    '--namespace',
    GANTRY_NAMESPACE,
    '--credentials-namespace',
    CREDENTIALS_NAMESPACE,
    '--cache-dir',
    l.sd.cacheDir(n.name),
    '--host-keeper',
    l.sd.keeperSocket(n.name),
    '--membrane',
    '--trust-issuer',
    o.issuer,
    ...o.plainHttpRegistries.flatMap((h) => ['--plain-http-registry', h]),
    ...(n.foreign ? ['--target', n.target] : []),
    ...(l.st.agentMetricsPorts?.[n.name] ? ['--metrics-addr', `127.0.0.1:${l.st.agentMetricsPorts[n.name]}`] : []),
  ];
}

/** True when the agent on `node` has renewed its Lease after `sinceMs`. */
async function leaseRenewedSince(kube: KubeClient, node: string, sinceMs: number): Promise<boolean> {
  try {
    const lease = await kube.get(
      resourcePath({
        group: 'coordination.k8s.io',
        version: 'v1',
        plural: 'leases',
        namespace: GANTRY_NAMESPACE,
        name: `gantry-agent-${node}`,
      }),
    );
    const t = Date.parse(lease?.spec?.renewTime ?? '');
    return Number.isFinite(t) && t >= sinceMs - 1000;
  } catch {
    return false;
  }
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}
