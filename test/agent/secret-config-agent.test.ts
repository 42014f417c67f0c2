/**
 * Secret config end to end, with real parts: two `gantry agent` processes (node-a and
 * foreign-node, each with its own seal key on its Lease, each as its node-bound identity on the
 * real API server), the echo provider in a real host, nats-server, docker-registry. The test
 * plays the controller with the controller's own writer (controller/credentials/config.ts):
 * the instance's secret value reaches the provider (echo prepends its `prefix`) and is found in
 * no ProviderInstance, Event or Secret in clear, no agent or host log line (at debug), and not in
 * the host's /proc environ or cmdline. Then the attacks: each fails closed with its own reason
 * and no host process or record exists for the instance.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostTarget } from '../../agent/target.js';
import { agentLeaseName, instanceConfigSecretName } from '../../api/index.js';
import { callProvider } from '../../client/call.js';
import { instanceSubject } from '../../client/protocol.js';
import { InstanceSecretConfig, instanceConfigSecret } from '../../controller/credentials/config.js';
import { sealKeyOfLease } from '../../registry/sealed-credential.js';
import { logger } from '../../runtime/log.js';
import {
  agentArgs,
  getInstance,
  instancesPath,
  isPhase,
  NODE,
  NS,
  providerLibrary,
  publish,
  startWorld,
  stopAgent,
  subscriptionCount,
  waitForInstance,
  type World,
} from './harness.js';

const target = hostTarget();
const OTHER = 'foreign-node';
const CANARY = 'canary-pw-5d0c2e91';
const b64 = (s: string) => Buffer.from(s).toString('base64');

let w: World;
let nc: NatsConnection;
let echo: { ref: string; digest: string };
const agents: Record<string, { p: ChildProcess; cache: string; log: string }> = {};
let writer: InstanceSecretConfig;
/** node → the seal key the writer seals to (its agent's Lease, unless a test says otherwise) */
const sealKeys: Record<string, string | undefined> = {};

function startAgent(node: string): void {
  const cache = mkdtempSync(join(tmpdir(), `gantry-secret-config-${node}-`));
  const p = spawn(process.execPath, agentArgs(w, node, cache), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'debug' },
  });
  const a = { p, cache, log: '' };
  // every line, kept whole: the test searches all of it for the canary
  p.stdout?.on('data', (d) => (a.log += d));
  p.stderr?.on('data', (d) => (a.log += d));
  agents[node] = a;
}

async function leaseSealKey(node: string): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const lease = await w.kube
      .get(`/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/${agentLeaseName(node)}`)
      .catch(() => undefined);
    const key = sealKeyOfLease(lease as never);
    if (key) return key;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the agent on ${node} published no seal key`);
}

/** A ProviderInstance bound to `node` whose config key(s) `keys` come from a Secret, as the controller creates it. */
async function instanceWithSecretConfig(name: string, node: string, keys: string[]): Promise<any> {
  return w.kube.create(instancesPath(NS), {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name, namespace: NS, labels: { 'gantry.dev/provider': name, 'gantry.dev/node': node } },
    spec: {
      provider: name,
      nodeName: node,
      archive: { ref: echo.ref, digest: echo.digest, revision: 1 },
      target,
      secretConfig: { keys, sources: [{ name: 'db', resourceVersion: '1' }] },
    },
  });
}

/** No host for this instance: none serving its subject, no host record on its node, no "host pid" in status. */
async function expectNoHost(node: string, inst: any): Promise<void> {
  const records = join(agents[node]!.cache, 'hosts');
  const files = existsSync(records) ? readdirSync(records) : [];
  expect(files.filter((f) => f.includes(inst.metadata.uid))).toEqual([]);
  expect(await subscriptionCount(w, instanceSubject(NS, inst.spec.provider, inst.metadata.name))).toBe(0);
  expect((await getInstance(w, inst.metadata.name)).status.message).not.toMatch(/host pid/);
}

beforeAll(async () => {
  w = await startWorld();
  nc = await connect({ servers: w.nats.url });
  echo = await publish(w, {
    repo: 'echo',
    capid: 'gantry:echo',
    binaries: { [target]: providerLibrary('echo') },
    issuerSeed: w.issuerSeed,
  });
  startAgent(NODE);
  startAgent(OTHER);
  sealKeys[NODE] = await leaseSealKey(NODE);
  sealKeys[OTHER] = await leaseSealKey(OTHER);
  writer = new InstanceSecretConfig(w.kube, 'gantry-nodes', logger('test-controller'), (node) => sealKeys[node]);
}, 120_000);

afterEach((ctx) => {
  if (ctx.task.result?.state === 'fail')
    for (const [node, a] of Object.entries(agents)) process.stderr.write(`--- agent ${node} (last 20 kB) ---\n${a.log.slice(-20_000)}\n`);
});

afterAll(async () => {
  writer?.stop();
  for (const a of Object.values(agents)) await stopAgent(a.p);
  await nc?.close();
  await w?.stop();
  for (const a of Object.values(agents)) rmSync(a.cache, { recursive: true, force: true });
});

describe('secret config on a real agent and host', () => {
  it('reaches the provider on its node, and nowhere in the API, the logs, or the host process environment and command line', async () => {
    const inst = await instanceWithSecretConfig('sealed-echo', NODE, ['prefix']);
    await writer.ensure(inst, { prefix: CANARY });
    const running = await waitForInstance(w, 'sealed-echo', isPhase('Running'), 30_000);
    const r = await callProvider(nc, { namespace: NS, provider: 'sealed-echo', op: 'Echo', data: 'ping' });
    expect(new TextDecoder().decode(r.reply)).toBe(`${CANARY}ping`);

    // the API: instances, events, every Secret — the only copy is sealed
    const seen = JSON.stringify([
      await w.kube.list(instancesPath(NS)),
      await w.kube.list('/api/v1/events'),
      await w.kube.list('/api/v1/secrets'),
    ]);
    expect(seen).not.toContain(CANARY);
    expect(seen).not.toContain(b64(CANARY));
    expect(seen).toContain(instanceConfigSecretName(NS, 'sealed-echo')); // the sealed Secret was listed
    // the host process: its spec came over IPC, not env or argv
    const pid = Number(/host pid (\d+)/.exec(running.status.message)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(readFileSync(`/proc/${pid}/environ`, 'latin1')).not.toContain(CANARY);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'latin1')).not.toContain(CANARY);
    // the agent's and its hosts' log output (debug), which holds this instance's lines
    expect(agents[NODE]!.log).toContain('sealed-echo');
    expect(agents[NODE]!.log).not.toContain(CANARY);
    expect(agents[NODE]!.log).not.toContain(b64(CANARY));
    await w.kube.delete(instancesPath(NS, 'sealed-echo'));
  });

  it("attack: an instance on node B whose config is sealed to node A's key gets ConfigSealedForAnotherNode, and no host starts", async () => {
    const inst = await instanceWithSecretConfig('misdirected', OTHER, ['prefix']);
    // sealed to node A's key, as a controller mistaken (or misled) about the node would
    sealKeys[OTHER] = sealKeys[NODE];
    try {
      await writer.ensure(inst, { prefix: CANARY });
    } finally {
      sealKeys[OTHER] = await leaseSealKey(OTHER);
    }
    const refused = await waitForInstance(w, 'misdirected', (i) => i.status?.reason === 'ConfigSealedForAnotherNode');
    expect(refused.status.phase).toBe('Fetching');
    expect(refused.status.message).toContain(`sealed to node ${OTHER}'s key ${sealKeys[NODE]}, not to this node's ${sealKeys[OTHER]}`);
    await expectNoHost(OTHER, inst);
    expect(agents[OTHER]!.log).not.toContain(CANARY);
    // the controller reseals to B's own key: the same instance starts
    await writer.ensure(inst, { prefix: CANARY });
    await waitForInstance(w, 'misdirected', isPhase('Running'), 30_000);
    await w.kube.delete(instancesPath(NS, 'misdirected'));
  });

  it('attack: a Secret for an earlier instance of the same name (another uid) is not used: ConfigPending, no host', async () => {
    const inst = await instanceWithSecretConfig('earlier', NODE, ['prefix']);
    await writer.ensure({ ...inst, metadata: { ...inst.metadata, uid: 'an-earlier-uid' } }, { prefix: CANARY });
    // (the agent may first have found no Secret at all: also ConfigPending, saying so)
    const pending = await waitForInstance(
      w,
      'earlier',
      (i) => i.status?.reason === 'ConfigPending' && i.status.message.includes('is not (yet) for this instance'),
    );
    expect(pending.status.message).toContain(`is not (yet) for this instance (uid ${inst.metadata.uid})`);
    expect(pending.status.phase).toBe('Fetching');
    await expectNoHost(NODE, inst);
    await w.kube.delete(instancesPath(NS, 'earlier'));
  });

  it('attack: a Secret holding other keys than spec.secretConfig.keys is ConfigIncomplete, and no host starts with half a config', async () => {
    const inst = await instanceWithSecretConfig('half', NODE, ['prefix', 'suffix']);
    await writer.ensure(inst, { prefix: CANARY });
    const refused = await waitForInstance(w, 'half', (i) => i.status?.reason === 'ConfigIncomplete');
    expect(refused.status.message).toContain('missing suffix');
    await expectNoHost(NODE, inst);
    await w.kube.delete(instancesPath(NS, 'half'));
  });

  it('attack: a tampered envelope is ConfigUnopenable: the instance fails, no host started', async () => {
    const inst = await instanceWithSecretConfig('tampered', NODE, ['prefix']);
    // the Secret the controller would write, its box altered before it is stored (the agent never sees the good one)
    const s = instanceConfigSecret(
      'gantry-nodes',
      inst,
      { prefix: CANARY },
      { node: NODE, key: sealKeys[NODE], digestKey: randomBytes(32) },
    );
    const env = JSON.parse(Buffer.from(s.data?.sealed ?? '', 'base64').toString());
    const box = Buffer.from(env.box, 'base64');
    box[0] = (box[0] ?? 0) ^ 0xff;
    await w.kube.create('/api/v1/namespaces/gantry-nodes/secrets', {
      ...s,
      data: { sealed: b64(JSON.stringify({ ...env, box: box.toString('base64') })) },
    });
    const failed = await waitForInstance(w, 'tampered', (i) => i.status?.reason === 'ConfigUnopenable');
    expect(failed.status.phase).toBe('Failed');
    await expectNoHost(NODE, inst);
    await w.kube.delete(instancesPath(NS, 'tampered'));
  });
});
