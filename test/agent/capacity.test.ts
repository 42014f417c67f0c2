/**
 * The agent's instance cap end to end: two real `gantry agent` processes (node-a with
 * `--max-instances 2`, roomy-node with the default), the controller, real nats-server, registry
 * and echo provider hosts. The cap is published on node-a's Lease and the scheduler keeps to
 * it; an instance bound to node-a past the cap anyway waits there, Pending with reason
 * InstanceLimit and a message naming the cap and the count, and starts when a place frees up;
 * a Provider's instance the agent refused is moved by the controller to the node with room.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hostTarget } from '../../agent/target.js';
import { type RunningController, startController } from '../../controller/index.js';
import { isAlreadyExists } from '../../runtime/kube.js';
import { gantryBin } from '../../runtime/paths.js';
import { createInstanceOnly, getInstance, instancesPath, NODE, NS, providerLibrary, publish, startWorld, type World } from './harness.js';

const ROOMY = 'roomy-node';
const target = hostTarget();
const [arch, os] = target === 'aarch64-linux' ? ['arm64', 'linux'] : ['amd64', 'linux'];
let w: World;
let controller: RunningController;
const agents: ChildProcess[] = [];
const dirs: string[] = [];
let echo: { ref: string; digest: string };

/** A Node as a kubelet would keep it: arch/os labels and Ready (the harness made the object on the real ground). */
async function readyNode(name: string): Promise<void> {
  const labels = { 'kubernetes.io/arch': arch, 'kubernetes.io/os': os, 'kubernetes.io/hostname': name };
  try {
    await w.kube.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    await w.kube.mergePatch(`/api/v1/nodes/${name}`, { metadata: { labels } });
  }
  await w.kube.mergePatch(`/api/v1/nodes/${name}/status`, {
    status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
  });
}

function startAgentProcess(node: string, extra: string[]): void {
  const cacheDir = mkdtempSync(join(tmpdir(), `gantry-capacity-${node}-`));
  dirs.push(cacheDir);
  const args = ['agent', '--kubeconfig', w.agentFor(node).kubeconfigPath, '--node', node, '--nats', w.nats.url];
  args.push('--cache-dir', cacheDir, '--trust-issuer', w.issuer, '--plain-http-registry', w.registry.host, '--host-pool', '0', ...extra);
  agents.push(
    spawn(process.execPath, [gantryBin(), ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' },
    }),
  );
}

beforeAll(async () => {
  w = await startWorld();
  echo = await publish(w, {
    repo: 'echo-capacity',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
  });
  for (const n of [NODE, ROOMY]) await readyNode(n);
  startAgentProcess(NODE, ['--max-instances', '2']);
  startAgentProcess(ROOMY, []);
  controller = await startController({
    kubeConfig: (await w.api.identity('controller')).kc,
    namespace: 'gantry-system',
    trustedIssuers: [w.issuer],
    plainHttpRegistries: [w.registry.host],
    leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
  });
}, 120_000);

afterAll(async () => {
  await controller?.stop();
  await Promise.all(
    agents
      .filter((a) => a.exitCode === null)
      .map((a) => {
        const done = new Promise((r) => a.once('exit', r));
        a.kill('SIGTERM');
        return done;
      }),
  );
  await w?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

/** Poll until `fn` answers (bounded); the error says what was seen last. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; Date.now() < deadline && i < 3_000; i++) {
    const v = await fn().catch((err) => {
      last = err;
      return undefined;
    });
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

const leaseOf = (node: string) => w.kube.get<any>(`/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/gantry-agent-${node}`);
const echoInstances = async () =>
  ((await w.kube.list<any>(`${instancesPath(NS)}?labelSelector=gantry.dev/provider=echo`)).items ?? []).filter(
    (i: any) => !i.metadata.deletionTimestamp,
  );
/** The Provider's InstancesReplaced Events (an instance removed to be placed again), by message. */
const replacedMessages = async () =>
  ((await w.kube.list<any>(`/api/v1/namespaces/${NS}/events`)).items ?? [])
    .filter((e: any) => e.involvedObject?.name === 'echo' && e.reason === 'InstancesReplaced')
    .map((e: any) => e.message);
const running = (l: any[], node: string) => l.filter((i) => i.spec.nodeName === node && i.status?.phase === 'Running').length;

it("publishes the cap on the agent's Lease; a Provider scaled to 6 runs 2 on the capped node and 4 on the other", async () => {
  const a = await until(
    'node-a Lease with its cap',
    async () => (await leaseOf(NODE))?.metadata?.annotations?.['gantry.dev/max-instances'],
  );
  expect(a).toBe('2');
  const roomy = Number(
    await until('roomy-node Lease', async () => (await leaseOf(ROOMY))?.metadata?.annotations?.['gantry.dev/max-instances']),
  );
  expect(roomy).toBeGreaterThanOrEqual(8); // the default: half the memory at 64 MiB per host, at least 8

  await w.kube.create(`/apis/gantry.dev/v1alpha1/namespaces/${NS}/providers`, {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'Provider',
    metadata: { name: 'echo', namespace: NS },
    spec: { archive: { ref: echo.ref }, replicas: 6, allowMultiplePerNode: true },
  });
  const l = await until(
    '6 echo instances running',
    async () => {
      const l = await echoInstances();
      return l.length === 6 && l.every((i: any) => i.status?.phase === 'Running') ? l : undefined;
    },
    120_000,
  );
  expect([running(l, NODE), running(l, ROOMY)]).toEqual([2, 4]);
  // the scheduler kept to the cap: nothing was bound past it, so nothing was refused and moved
  expect(l.map((i: any) => i.status.reason)).toEqual(Array(6).fill('HostReady'));
  expect(await replacedMessages()).toEqual([]);
}, 180_000);

it('an instance bound past the cap anyway waits (Pending, InstanceLimit) and starts when a place frees; a refused Provider instance moves to the node with room', async () => {
  await createInstanceOnly(w, { name: 'direct', provider: 'direct', ref: echo.ref, digest: echo.digest, target, node: NODE });
  const refused = await until('direct refused', async () => {
    const i = await getInstance(w, 'direct');
    return i.status?.reason === 'InstanceLimit' ? i : undefined;
  });
  expect(refused.status.phase).toBe('Pending');
  expect(refused.status.message).toBe(
    "instance limit reached: this node's agent runs at most 2 instances (--max-instances 2) and 2 are taken by running or " +
      'older instances; this one is number 1 in line (oldest first) and starts when one stops',
  );
  expect(refused.status.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'False', reason: 'InstanceLimit' })]);

  // free a place on node-a: the waiting instance is older than the controller's replacement, so
  // it takes the place; the replacement the controller binds there is refused and moved
  const [gone] = (await echoInstances()).filter((i: any) => i.spec.nodeName === NODE);
  await w.kube.delete(`${instancesPath(NS, gone.metadata.name)}`);
  await until('direct running', async () => ((await getInstance(w, 'direct')).status?.phase === 'Running' ? true : undefined));
  const l = await until(
    '6 echo instances running again',
    async () => {
      const l = await echoInstances();
      return l.length === 6 && l.every((i: any) => i.status?.phase === 'Running') ? l : undefined;
    },
    120_000,
  );
  expect([running(l, NODE), running(l, ROOMY)]).toEqual([1, 5]);
  expect(await replacedMessages()).toEqual(['removed 1 instance(s) to replace them: node-a: InstanceLimit']);
}, 180_000);
