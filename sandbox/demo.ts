/**
 * `npm run demo`: a narrated walkthrough of Gantry on a fresh sandbox (4 nodes, temporary
 * state dir). Each step says what it does, does it with the tool a person would use
 * (kubectl for the cluster, a NATS client for calls), checks that it happened — the demo stops
 * with an error instead of narrating something that did not — and prints how long it took:
 *
 *   1 apply a Provider          2 wait until Ready          3 call it
 *   4 kubectl scale 1 → 3, calls spread over the instances
 *   5 push revision 2, point the Provider at it, watch the rollout
 *   6 gantry rollout history and undo: back to revision 1, rolled out the same way
 *   7 kill one node's agent (and its provider hosts), watch the instance replaced elsewhere
 *   8 delete the Provider, calls find no responder
 *
 * Options: --state-dir DIR keeps the sandbox there (default: a temporary dir, removed after).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { hostTarget } from '../agent/target.js';
import { CallError, callProvider, connectNats } from '../client/index.js';
import { openArchiveStore } from '../registry/index.js';
import { KubeClient, loadKubeConfig, resourcePath } from '../runtime/kube.js';
import { gantryBin, packageRoot } from '../runtime/paths.js';
import { devKeys, EXAMPLE_ARCHIVES, type ExampleArchive, signExample } from './launcher/example-archives.js';
import { findExecutable } from './launcher/host.js';
import { type Sandbox, startSandbox } from './launcher/sandbox.js';

const NAME = 'demo-echo';
const NS = 'default';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = '') => process.stdout.write(s + '\n');
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

interface Step {
  title: string;
  ms: number;
  numbered: boolean;
}
const steps: Step[] = [];

async function step<T>(title: string, fn: () => Promise<T>): Promise<T> {
  say();
  say(bold(`▶ ${steps.filter((s) => s.numbered).length + 1}. ${title}`));
  const t0 = performance.now();
  const v = await fn();
  const ms = performance.now() - t0;
  steps.push({ title, ms, numbered: true });
  say(`  ✓ done in ${secs(ms)}`);
  return v;
}

/** Poll until fn returns a value (or time runs out, which ends the demo with `what`). */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`demo: gave up waiting ${timeoutMs / 1000} s for ${what}`);
}

function kubectlRunner(kubeconfig: string) {
  const bin = findExecutable('kubectl');
  if (!bin) throw new Error('demo: kubectl is needed (it is how the demo talks to the cluster, as you would)');
  // asynchronous, so this process keeps serving its NATS connection and child bookkeeping
  return (args: string[], input?: string): Promise<string> =>
    new Promise((resolve, reject) => {
      say(`  $ kubectl ${args.join(' ')}`);
      const p = spawn(bin, ['--kubeconfig', kubeconfig, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.once('error', reject);
      p.once('exit', (code) => {
        for (const line of out.trimEnd().split('\n')) if (line) say(`    ${line}`);
        if (code === 0) resolve(out);
        else reject(new Error(`demo: kubectl ${args.join(' ')} failed (${code}): ${err.trim()}`));
      });
      p.stdin.end(input ?? '');
    });
}

interface Instance {
  name: string;
  node: string;
  revision?: number;
  phase?: string;
  deleting: boolean;
}

async function instances(kube: KubeClient): Promise<Instance[]> {
  const list = await kube.list(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace: NS }), {
    labelSelector: `gantry.dev/provider=${NAME}`,
  });
  return list.items.map((i: any) => ({
    name: i.metadata.name,
    node: i.spec.nodeName,
    revision: i.spec.archive?.revision,
    phase: i.status?.phase,
    deleting: !!i.metadata.deletionTimestamp,
  }));
}

async function provider(kube: KubeClient): Promise<any> {
  return kube.get(resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providers', namespace: NS, name: NAME }));
}

const isReady = (p: any) => p?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');

async function calls(nc: NatsConnection, n: number): Promise<Map<string, number>> {
  const spread = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const { instance, reply } = await callProvider(nc, { namespace: NS, provider: NAME, op: 'Echo', data: `call ${i}`, timeoutMs: 5000 });
    if (new TextDecoder().decode(reply) !== `call ${i}`)
      throw new Error(`demo: ${instance} answered "${new TextDecoder().decode(reply)}" to "call ${i}"`);
    spread.set(instance, (spread.get(instance) ?? 0) + 1);
  }
  return spread;
}

function showInstances(list: Instance[]): void {
  for (const i of list)
    say(
      `    ${i.name.padEnd(18)} node ${i.node.padEnd(14)} revision ${i.revision ?? '?'}  ${i.phase ?? 'Pending'}${i.deleting ? ' (terminating)' : ''}`,
    );
}

/** What every step of the demo works with. */
interface Demo {
  sandbox: Sandbox;
  kube: KubeClient;
  kubectl: ReturnType<typeof kubectlRunner>;
  nc: NatsConnection;
  echo: ExampleArchive;
  /** The echo archive's repository in the sandbox's registry. */
  ref: string;
}

async function main(): Promise<void> {
  const argDir = process.argv.indexOf('--state-dir');
  const keep = argDir > 0;
  const stateDir = keep ? process.argv[argDir + 1] : mkdtempSync(join(tmpdir(), 'gantry-demo-'));
  const t0 = performance.now();
  say(bold('Gantry demo: native providers on a (local) Kubernetes cluster'));
  say(`Starting a sandbox with 4 nodes in ${stateDir} …`);
  let sb: Sandbox | undefined;
  let nc: NatsConnection | undefined;
  const stopAll = async () => {
    await nc?.close().catch(() => {});
    await sb?.stop();
    if (!keep) rmSync(stateDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    say('\ninterrupted; stopping the sandbox');
    stopAll().finally(() => process.exit(130));
  });
  try {
    const upStart = performance.now();
    sb = await startSandbox({ stateDir, nodes: '4', skipExamples: true, out: process.stdout });
    steps.push({
      title: 'start the sandbox (API, NATS, registry, controller, 4 agents)',
      ms: performance.now() - upStart,
      numbered: false,
    });
    const kubectl = kubectlRunner(sb.kubeconfigPath);
    const kube = new KubeClient(loadKubeConfig({ kubeconfigPath: sb.kubeconfigPath }));
    nc = await connectNats({ servers: sb.natsUrl, credsFile: sb.natsCreds, tls: { caFile: sb.natsCa } });
    const echo = EXAMPLE_ARCHIVES.find((e) => e.name === 'echo')!;
    await walkthrough({ sandbox: sb, kube, kubectl, nc, echo, ref: sb.registry.refFor(echo.repository) });
    kube.close();
    say();
    say(bold('Summary'));
    for (const s of steps) say(`  ${secs(s.ms).padStart(8)}  ${s.title}`);
    say(`  ${secs(performance.now() - t0).padStart(8)}  total`);
  } finally {
    say();
    say('Stopping the sandbox …');
    await stopAll();
  }
}

/** The eight numbered steps, in order. */
async function walkthrough(d: Demo): Promise<void> {
  await step(`Apply a Provider "${NAME}": the signed echo archive, revision 1, one replica`, () => applyProvider(d));
  await step('Wait until it is Ready: the controller resolves and places it, an agent verifies and loads it', () => waitReady(d));
  await step('Call it over NATS', () => callOnce(d));
  await step('Scale to 3 replicas with kubectl, and see calls spread over the instances', () => scaleToThree(d));
  await step('Push revision 2 of the archive, point the Provider at it, and watch the rollout', () => rollOutRevision2(d));
  await step('Undo it with gantry rollout: the history keeps both templates, undo returns to revision 1', () => undoToRevision1(d));
  await step("Kill one node's agent and its provider hosts (as if the node died); watch the replacement", () => killOneNode(d));
  await step('Delete the Provider: its instances go, and calls find nobody', () => deleteProvider(d));
}

async function applyProvider({ kubectl, ref }: Demo): Promise<void> {
  const manifest = `apiVersion: gantry.dev/v1alpha1
kind: Provider
metadata:
  name: ${NAME}
  namespace: ${NS}
spec:
  archive:
    ref: ${ref}
    revision: 1
  replicas: 1
  capabilityId: gantry:echo
`;
  for (const l of manifest.trimEnd().split('\n')) say(`    | ${l}`);
  await kubectl(['apply', '-f', '-'], manifest);
}

async function waitReady({ kube, kubectl }: Demo): Promise<void> {
  await until('the Provider to be Ready', async () => (isReady(await provider(kube)) ? true : undefined));
  await kubectl(['get', 'provider', NAME]);
  showInstances(await instances(kube));
}

async function callOnce({ nc }: Demo): Promise<void> {
  const { instance, reply } = await callProvider(nc, {
    namespace: NS,
    provider: NAME,
    op: 'Echo',
    data: 'hello, gantry',
    timeoutMs: 5000,
  });
  say(`  → Echo("hello, gantry") = "${new TextDecoder().decode(reply)}", answered by ${instance}`);
}

async function scaleToThree({ kube, kubectl, nc }: Demo): Promise<void> {
  await kubectl(['scale', `provider/${NAME}`, '--replicas=3']);
  await until('3 ready replicas', async () => ((await provider(kube)).status?.readyReplicas === 3 ? true : undefined));
  const list = await instances(kube);
  showInstances(list);
  const nodes = new Set(list.map((i) => i.node));
  say(`  instances on ${nodes.size} different nodes`);
  // queue-group delivery is random per call; enough calls make every instance answer
  const spread = await until(
    'calls to reach all 3 instances',
    async () => {
      const s = await calls(nc, 30);
      return s.size === 3 ? s : undefined;
    },
    30_000,
  );
  say(`  30 calls answered by: ${[...spread].map(([i, n]) => `${i} ×${n}`).join(', ')}`);
}

async function rollOutRevision2({ sandbox, kube, kubectl, echo, ref }: Demo): Promise<void> {
  const keys = devKeys(join(sandbox.stateDir, 'keys'));
  const bytes = await signExample({
    example: echo,
    providersDir: join(packageRoot(), 'providers'),
    target: hostTarget(),
    keys,
    revision: 2,
    version: '0.2.0',
  });
  const pushed = await openArchiveStore(ref, { plainHttpRegistries: sandbox.registry.plainHttp, trustedIssuers: [keys.issuer] }).push(
    bytes,
    { trustedIssuers: [keys.issuer] },
  );
  say(`  pushed ${ref} revision ${pushed.revision} (${pushed.digest.slice(0, 19)}…)`);
  await kubectl(['patch', `provider/${NAME}`, '--type=merge', '-p', '{"spec":{"archive":{"revision":2}}}']);
  let last = '';
  await until('all 3 instances on revision 2 and Ready', async () => {
    const list = await instances(kube);
    const view = list
      .map((i) => `${i.name}@${i.revision}:${i.phase}${i.deleting ? '-' : ''}`)
      .sort()
      .join(' ');
    if (view !== last) {
      last = view;
      say(
        `  ${list.filter((i) => i.revision === 2 && i.phase === 'Running' && !i.deleting).length}/3 on revision 2 — ${list.length} instances: ${list.map((i) => `${i.name} r${i.revision} ${i.phase ?? 'Pending'}${i.deleting ? ' (terminating)' : ''}`).join(', ')}`,
      );
    }
    const p = await provider(kube);
    const done =
      list.length === 3 && list.every((i) => i.revision === 2 && i.phase === 'Running' && !i.deleting) && p.status?.readyReplicas === 3;
    return done ? true : undefined;
  });
  await kubectl(['get', 'provider', NAME]);
}

/** `gantry rollout …` as a person types it, narrated like kubectl. */
function gantryRollout(kubeconfig: string, args: string[]): Promise<string> {
  say(`  $ gantry rollout ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [gantryBin(), 'rollout', ...args, '-n', NS, '--kubeconfig', kubeconfig], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.once('error', reject);
    p.once('exit', (code) => {
      for (const line of out.trimEnd().split('\n')) if (line) say(`    ${line}`);
      code === 0 ? resolve(out) : reject(new Error(`demo: gantry rollout ${args[0]} exited ${code}`));
    });
  });
}

async function undoToRevision1({ sandbox, kube }: Demo): Promise<void> {
  await gantryRollout(sandbox.kubeconfigPath, ['history', `provider/${NAME}`]);
  await gantryRollout(sandbox.kubeconfigPath, ['undo', `provider/${NAME}`]);
  await gantryRollout(sandbox.kubeconfigPath, ['status', `provider/${NAME}`, '--timeout', '90s']);
  // done means 3 updated and Ready, none old; an old one may still be terminating
  const list = (await instances(kube)).filter((i) => !i.deleting);
  if (list.length !== 3 || !list.every((i) => i.revision === 1 && i.phase === 'Running'))
    throw new Error('demo: after the undo not every instance runs revision 1');
  say('  3/3 on revision 1 again');
  await gantryRollout(sandbox.kubeconfigPath, ['history', `provider/${NAME}`]);
}

async function killOneNode({ sandbox, kube, nc }: Demo): Promise<void> {
  const before = await instances(kube);
  const victim = before[0];
  const agentName = `agent-${victim.node}`;
  const pid = sandbox.processes()[agentName];
  if (!pid) throw new Error(`demo: ${agentName} is not running`);
  say(`  killing ${agentName} (pid ${pid}), which serves ${victim.name}`);
  process.kill(-pid, 'SIGKILL'); // the process group: the agent and the hosts it started
  const t = performance.now();
  const after = await until(
    'a replacement instance Ready on another node',
    async () => {
      const list = await instances(kube);
      const p = await provider(kube);
      const live = list.filter((i) => i.node !== victim.node && i.phase === 'Running' && !i.deleting);
      return live.length === 3 && p.status?.readyReplicas === 3 ? list : undefined;
    },
    120_000,
  );
  say(`  the controller saw the agent's Lease expire and placed a replacement within ${secs(performance.now() - t)}:`);
  showInstances(after);
  const spread = await calls(nc, 12);
  say(`  12 calls answered by: ${[...spread].map(([i, n]) => `${i} ×${n}`).join(', ')}`);
  if ([...spread.keys()].includes(victim.name)) throw new Error(`demo: ${victim.name} still answered after its node died`);
}

async function deleteProvider({ kube, kubectl, nc }: Demo): Promise<void> {
  await kubectl(['delete', 'provider', NAME]);
  await until('every instance to be gone', async () => ((await instances(kube)).length === 0 ? true : undefined));
  const err = await until(
    'calls to fail with NO_RESPONDERS',
    async () => {
      try {
        await callProvider(nc, { namespace: NS, provider: NAME, op: 'Echo', data: 'anyone?', timeoutMs: 2000 });
        return undefined;
      } catch (e) {
        return e instanceof CallError && e.code === 'NO_RESPONDERS' ? e : undefined;
      }
    },
    30_000,
  );
  say(`  → ${err.code}: ${err.message}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`\n${(err as Error).message}\n`);
    process.exit(1);
  },
);
