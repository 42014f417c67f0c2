/**
 * `npm run demo`: a narrated walkthrough of Gantry on a fresh sandbox (4 nodes, temporary
 * state dir). Each step says what it does, does it with the tool a person would use
 * (kubectl and the gantry CLI for the cluster, a NATS client for calls), checks that it
 * happened — the demo stops with an error instead of narrating something that did not — and
 * prints how long it took:
 *
 *   1 apply a Provider          2 wait until Ready          3 call it
 *   4 kubectl scale 1 → 3, calls spread over the instances
 *   5 push revision 2, point the Provider at it, watch the rollout
 *   6 a Secret referenced by spec.configFrom reaches the provider (sandbox/demo-config.ts)
 *   7 an inline config change rolls out   8 gantry rollout history and undo: back to the Secret's value
 *   9 kill one node's agent and host keeper (and its provider hosts), watch the instance replaced elsewhere
 *  10 delete the Provider, calls find no responder
 *
 * Options: --state-dir DIR keeps the sandbox there (default: a temporary dir, removed after).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { hostTarget } from '../agent/target.js';
import { CallError, callProvider, connectNats } from '../client/index.js';
import { openArchiveStore } from '../registry/index.js';
import { KubeClient, loadKubeConfig } from '../runtime/kube.js';
import { packageRoot } from '../runtime/paths.js';
import { devKeys, EXAMPLE_ARCHIVES, signExample } from './launcher/example-archives.js';
import { type Sandbox, startSandbox } from './launcher/sandbox.js';
import {
  bold,
  calls,
  type Demo,
  gantryRunner,
  instances,
  isReady,
  kubectlRunner,
  NAME,
  NS,
  provider,
  say,
  secs,
  showInstances,
  step,
  steps,
  until,
} from './demo-support.js';
import { configFromSecret, changeConfig, undoChange } from './demo-config.js';

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
    await walkthrough({
      sandbox: sb,
      kube,
      kubectl,
      gantry: gantryRunner(sb.kubeconfigPath),
      nc,
      echo,
      ref: sb.registry.refFor(echo.repository),
    });
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

/** The numbered steps, in order. */
async function walkthrough(d: Demo): Promise<void> {
  await step(`Apply a Provider "${NAME}": the signed echo archive, revision 1, one replica`, () => applyProvider(d));
  await step('Wait until it is Ready: the controller resolves and places it, an agent verifies and loads it', () => waitReady(d));
  await step('Call it over NATS', () => callOnce(d));
  await step('Scale to 3 replicas with kubectl, and see calls spread over the instances', () => scaleToThree(d));
  await step('Push revision 2 of the archive, point the Provider at it, and watch the rollout', () => rollOutRevision2(d));
  await step('Keep a secret out of the manifest: config from a Secret reaches the provider, sealed to its node', () => configFromSecret(d));
  await step('Change the config: it rolls out like a Deployment template change', () => changeConfig(d));
  await step('Undo: gantry rollout undo returns to the previous template', () => undoChange(d));
  await step("Kill one node's agent, its host keeper and its provider hosts (as if the node died); watch the replacement", () =>
    killOneNode(d),
  );
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

async function killOneNode({ sandbox, kube, nc }: Demo): Promise<void> {
  const before = await instances(kube);
  const victim = before[0];
  const agentName = `agent-${victim.node}`;
  const keeperName = `keeper-${victim.node}`;
  const pid = sandbox.processes()[agentName];
  const keeperPid = sandbox.processes()[keeperName];
  if (!pid || !keeperPid) throw new Error(`demo: ${agentName} or ${keeperName} is not running`);
  say(`  killing ${agentName} (pid ${pid}) and ${keeperName} (pid ${keeperPid}), whose host serves ${victim.name}`);
  process.kill(-pid, 'SIGKILL');
  process.kill(-keeperPid, 'SIGKILL'); // the process group: the keeper and the hosts it runs
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
