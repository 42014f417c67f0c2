/**
 * The chaos run's cluster: its own sandbox (3 nodes, 3 NATS servers, 2 controllers, the
 * registry) with two Providers, echo and keyvalue, one instance per node, in namespace `chaos`,
 * and the three caller connections the load goes over.
 */
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats } from '../../client/nats.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../../runtime/kube.js';
import { type Sandbox, startSandbox } from '../../sandbox/launcher/sandbox.js';

export const NS = 'chaos';
export const PROVIDERS = ['echo', 'keyvalue'] as const;

export interface Scenario {
  stateDir: string;
  sb: Sandbox;
  kube: KubeClient;
  /** the load's caller connections (each given all NATS URLs); filled by applyProviders */
  conns: NatsConnection[];
  out: WriteStream;
}

/** Starts the sandbox; `stop` undoes it (and whatever applyProviders added). */
export async function startScenario(o: {
  log: (line: string) => void;
  leaderElection?: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
}): Promise<Scenario> {
  const { log } = o;
  const stateDir = mkdtempSync(join(tmpdir(), 'gantry-chaos-'));
  const out = createWriteStream(join(stateDir, 'sandbox-output.log'));
  log(`chaos: starting a sandbox in ${stateDir} (3 nodes, 3 NATS servers, 2 controllers)`);
  const sb = await startSandbox({
    stateDir,
    nodes: '3',
    natsServers: 3,
    controllers: 2,
    skipExamples: true,
    out,
    leaderElection: o.leaderElection,
  });
  const kube = new KubeClient(loadKubeConfig({ kubeconfigPath: sb.kubeconfigPath }));
  return { stateDir, sb, kube, conns: [], out };
}

/** The namespace, the two Providers (one replica per node) and the three caller connections. */
export async function applyProviders(s: Scenario): Promise<void> {
  const { kube, sb, conns } = s;
  await kube
    .create(resourcePath({ version: 'v1', plural: 'namespaces' }), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } })
    .catch(() => {});
  for (const name of PROVIDERS) {
    const a = sb.archives.find((x) => x.name === name);
    if (!a) throw new Error(`chaos: the sandbox published no ${name} archive`);
    await kube.create(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS }), {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name, namespace: NS },
      spec: { archive: { ref: a.ref }, replicas: sb.nodes.length },
    });
  }
  for (let i = 0; i < 3; i++)
    conns.push(await connectNats({ servers: sb.natsUrl, credsFile: sb.natsCreds, tls: { caFile: sb.natsCa }, name: `chaos-load-${i}` }));
}

export async function stopScenario(s: Scenario, keepStateDir: boolean | undefined): Promise<void> {
  await Promise.all(s.conns.map((c) => c.close().catch(() => {})));
  s.kube.close();
  await s.sb.stop();
  s.out.end();
  if (!keepStateDir) rmSync(s.stateDir, { recursive: true, force: true });
}
