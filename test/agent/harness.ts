/**
 * A small world for agent tests: a real nats-server (with its monitoring port, so tests can
 * count subscriptions), a real docker-registry, the API server emulator with Gantry's CRDs,
 * and signed archives of the C example providers pushed to the registry. The test plays the
 * controller: it creates ProviderInstances bound to its node and reads their status.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parse as parseYaml } from 'yaml';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { KubeClient, isNotFound, loadKubeConfig, resourcePath, type KubeConfig } from '../../runtime/kube.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { DistributionClient, openArchiveStore, OCI_MANIFEST } from '../../registry/index.js';
import { sha256Digest } from '../../registry/digest.js';
import { PullSecretError, readPullSecrets } from '../../registry/pull-secrets.js';
import { sealKeyOfLease } from '../../registry/sealed-credential.js';
import { agentLeaseName } from '../../api/index.js';
import { InstancePullCredentials, type PullTokenMinter } from '../../controller/credentials/pull.js';
import { logger } from '../../runtime/log.js';
import { applyAgentAdmission, nodeBoundAgent, startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { startNats, type NatsServer } from '../support/nats.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { freePort } from '../support/ports.js';

export const NODE = 'node-a';
export const NS = 'default';
/** The nodes agent tests run agents on: each gets a Node object and a node-bound token on the real ground. */
export const AGENT_NODES = [NODE, 'foreign-node', 'small-node', 'metrics-node', 'metrics-cli', 'roomy-node', 'calls-node'];

export interface World {
  nats: NatsServer;
  monitorPort: number;
  registry: RegistryServer;
  /** The API server, emulated or real (tests that take it away stop it; stopping twice is fine). */
  api: TestApiServer;
  /** Cluster admin: the test plays the controller. */
  kubeConfig: KubeConfig;
  kubeconfigPath: string;
  /**
   * Who the agent under test on NODE runs as: deploy/base's gantry-agent ServiceAccount on the
   * real API server, with a token bound to its Node (as the DaemonSet's projected token is), under
   * deploy/base's admission policy for agents; the admin on the emulator.
   */
  agentKubeConfig: KubeConfig;
  agentKubeconfigPath: string;
  /** The same for an agent on another of AGENT_NODES. */
  agentFor(node: string): { kc: KubeConfig; kubeconfigPath: string };
  kube: KubeClient;
  issuerSeed: string;
  issuer: string;
  stop(): Promise<void>;
}

export async function startWorld(): Promise<World> {
  const monitorPort = await freePort();
  const nats = await startNats({ config: `http: 127.0.0.1:${monitorPort}\n` });
  const registry = await startRegistry();
  const api = await startTestApiServer();
  const kubeConfig = loadKubeConfig({ kubeconfigYaml: api.kubeconfigYaml });
  const kube = new KubeClient(kubeConfig);
  for (const f of ['gantry.dev_providerinstances.yaml', 'gantry.dev_providers.yaml']) {
    const crd = parseYaml(readFileSync(join(packageRoot(), 'crds', f), 'utf8'));
    await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  }
  for (const ns of ['gantry-system', 'gantry-nodes', NS]) {
    try {
      await kube.get(`/api/v1/namespaces/${ns}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    }
  }
  // the CRD is served once discovery knows it: wait for a list to succeed
  for (let i = 0; i < 100; i++) {
    try {
      await kube.list(instancesPath(NS));
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const issuerSeed = generateSeed('account');
  const agents = new Map<string, { kc: KubeConfig; kubeconfigPath: string }>();
  if (api.controlPlane) {
    await applyAgentAdmission(api);
    for (const node of AGENT_NODES) {
      await kube.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: node } });
      agents.set(node, await nodeBoundAgent(api, node));
    }
  } else {
    const admin = await api.identity('agent');
    for (const node of AGENT_NODES) agents.set(node, { kc: admin.kc, kubeconfigPath: admin.kubeconfigPath });
  }
  const agentFor = (node: string) => {
    const a = agents.get(node);
    if (!a) throw new Error(`no agent identity for node ${node}: add it to AGENT_NODES`);
    return a;
  };
  const agentId = agentFor(NODE);
  return {
    nats,
    monitorPort,
    registry,
    api,
    kubeConfig,
    kubeconfigPath: api.kubeconfigPath,
    agentKubeConfig: agentId.kc,
    agentKubeconfigPath: agentId.kubeconfigPath,
    agentFor,
    kube,
    issuerSeed,
    issuer: publicKeyFromSeed(issuerSeed),
    async stop() {
      kube.close();
      await api.stop();
      await registry.stop();
      await nats.stop();
    },
  };
}

export function providerLibrary(name: string): Uint8Array {
  return readFileSync(join(packageRoot(), 'providers', 'build', `${name}.so`));
}

export interface ArchiveSpec {
  repo: string;
  /** another registry than the world's (host:port), with credentials for the push */
  registryHost?: string;
  credentials?: { username: string; password: string };
  /** more plain-HTTP hosts for the push (a token service on loopback) */
  plainHttp?: string[];
  capid: string;
  binaries: Record<string, Uint8Array>;
  issuerSeed: string;
  revision?: number;
}

/** Sign an archive, push it, and return the ref and manifest digest an instance names. */
/** `gantry agent` arguments for a node of this world: its node-bound kubeconfig, NATS, a cache, the issuer, the registry; then `extra`. */
export function agentArgs(w: World, node: string, cacheDir: string, ...extra: string[]): string[] {
  return [
    gantryBin(),
    'agent',
    '--kubeconfig',
    w.agentFor(node).kubeconfigPath,
    '--node',
    node,
    '--nats',
    w.nats.url,
    '--cache-dir',
    cacheDir,
    '--trust-issuer',
    w.issuer,
    '--plain-http-registry',
    w.registry.host,
    ...extra,
  ];
}

/** A world, a NATS connection to it and one `gantry agent` on NODE with a cache dir of its own. */
export interface AgentWorld {
  w: World;
  nc: NatsConnection;
  agent: ChildProcess;
  cacheDir: string;
  /** Stops the agent (its hosts first), the connection and the world; removes the cache dir. */
  stop(): Promise<void>;
}

/** What most agent tests start with: `name` names the cache dir, `extra` are more agent flags. */
export async function startAgentWorld(name: string, ...extra: string[]): Promise<AgentWorld> {
  const w = await startWorld();
  const nc = await connect({ servers: w.nats.url });
  const cacheDir = mkdtempSync(join(tmpdir(), `gantry-${name}-`));
  const agent = spawn(process.execPath, agentArgs(w, NODE, cacheDir, ...extra), {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, GANTRY_LOG_LEVEL: 'warn' },
  });
  return {
    w,
    nc,
    agent,
    cacheDir,
    async stop() {
      await stopAgent(agent);
      await nc.close();
      await w.stop();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

/**
 * Stops a `gantry agent` child with `sig` (SIGTERM: it stops its hosts first) and waits for its
 * exit; one that outlives 15 s is SIGKILLed, so a hung agent cannot hang the suite's teardown.
 */
export async function stopAgent(p: ChildProcess | undefined, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill(sig);
  await Promise.race([done, new Promise((r) => setTimeout(r, 15_000))]);
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

export async function publish(w: World, a: ArchiveSpec): Promise<{ ref: string; digest: string; bytes: Uint8Array }> {
  const bytes = await createPar({
    binaries: a.binaries,
    issuerSeed: a.issuerSeed,
    subjectSeed: generateSeed('service'),
    name: a.repo,
    vendor: 'gantry-tests',
    capid: a.capid,
    version: '1.0.0',
    revision: a.revision ?? 1,
  });
  const host = a.registryHost ?? w.registry.host;
  const ref = `${host}/tests/${a.repo}`;
  const store = openArchiveStore(ref, { plainHttpRegistries: [host, ...(a.plainHttp ?? [])], credentials: a.credentials });
  const pushed = await store.push(bytes);
  return { ref, digest: pushed.digest, bytes };
}

/**
 * Publish a copy of a pushed archive whose layer is `tampered` (e.g. a binary changed after
 * signing), bypassing the store's push-time verification the way an attacker with write
 * access to the registry would. Returns the new manifest digest.
 */
export async function publishTampered(w: World, ref: string, goodDigest: string, tampered: Uint8Array): Promise<string> {
  const repo = ref.slice(ref.indexOf('/') + 1);
  const client = new DistributionClient(w.registry.host, repo, { plainHttpHosts: [w.registry.host] });
  const got = await client.getManifest(goodDigest);
  if (!got) throw new Error(`manifest ${goodDigest} not found`);
  const manifest = JSON.parse(Buffer.from(got.bytes).toString('utf8'));
  const layerDigest = sha256Digest(tampered);
  await client.putBlob(layerDigest, tampered);
  manifest.layers[0] = { ...manifest.layers[0], digest: layerDigest, size: tampered.length };
  return client.putManifest('tampered', Buffer.from(JSON.stringify(manifest)), OCI_MANIFEST);
}

export function instancesPath(namespace: string, name?: string): string {
  return resourcePath({ group: 'gantry.dev', version: 'v1alpha1', plural: 'providerinstances', namespace, name });
}

export interface InstanceOptions {
  name: string;
  provider: string;
  ref: string;
  digest: string;
  target: string;
  capid?: string;
  node?: string;
  issuers?: string[];
  config?: Record<string, unknown>;
  pullSecrets?: string[];
  /** as the controller copies it from the Provider */
  resources?: { memory?: string; maxInFlight?: number; callTimeout?: string };
  /** as the controller copies it from the Provider (spec.health) */
  health?: { periodSeconds?: number; timeoutSeconds?: number; failureThreshold?: number };
}

/**
 * Create a ProviderInstance bound to the test node, as the controller would — with its pull
 * credential: the named pull secrets (read as the controller, with admin rights) reduced to
 * the instance's registry by the controller's own code, sealed, in gantry-nodes.
 */
export async function createInstance(w: World, o: InstanceOptions): Promise<any> {
  const created = await createInstanceOnly(w, o);
  if (o.pullSecrets?.length) await writePullCredential(w, created);
  return created;
}

/** Play the controller's pull-credential writer (controller/instance-pull-creds.ts) for `inst`. */
export async function writePullCredential(w: World, inst: any, mint?: PullTokenMinter): Promise<void> {
  const names: string[] = (inst.spec.archive.pullSecrets ?? []).map((s: { name: string }) => s.name);
  const source = await readPullSecrets(w.kube, inst.metadata.namespace, names).then(
    (secrets) => ({ secrets }),
    (error: unknown) => {
      if (error instanceof PullSecretError) return { error };
      throw error;
    },
  );
  // sealed, as the controller does, to the key the node's agent published on its Lease
  const lease = await w.kube
    .get(`/apis/coordination.k8s.io/v1/namespaces/gantry-system/leases/${agentLeaseName(inst.spec.nodeName)}`)
    .catch(() => undefined);
  await new InstancePullCredentials(w.kube, 'gantry-nodes', logger('test-controller'), mint, Date.now, () => sealKeyOfLease(lease)).ensure(
    inst,
    source,
  );
}

/** Create the ProviderInstance alone (no pull credential written). */
export async function createInstanceOnly(w: World, o: InstanceOptions): Promise<any> {
  const node = o.node ?? NODE;
  return w.kube.create(instancesPath(NS), {
    apiVersion: 'gantry.dev/v1alpha1',
    kind: 'ProviderInstance',
    metadata: { name: o.name, namespace: NS, labels: { 'gantry.dev/provider': o.provider, 'gantry.dev/node': node } },
    spec: {
      provider: o.provider,
      nodeName: node,
      archive: {
        ref: o.ref,
        digest: o.digest,
        revision: 1,
        ...(o.pullSecrets ? { pullSecrets: o.pullSecrets.map((name) => ({ name })) } : {}),
      },
      target: o.target,
      ...(o.capid ? { capid: o.capid } : {}),
      ...(o.issuers ? { issuers: o.issuers } : {}),
      ...(o.config ? { config: o.config } : {}),
      ...(o.resources ? { resources: o.resources } : {}),
      ...(o.health ? { health: o.health } : {}),
    },
  });
}

export async function getInstance(w: World, name: string): Promise<any> {
  return w.kube.get(instancesPath(NS, name));
}

/** Poll an instance until `pred` holds (bounded), returning it; the error names what was seen last. */
export async function waitForInstance(w: World, name: string, pred: (i: any) => boolean, timeoutMs = 20_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  for (let i = 0; Date.now() < deadline && i < 2_000; i++) {
    try {
      last = await getInstance(w, name);
      if (pred(last)) return last;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      last = undefined;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`instance ${name} did not reach the expected state in ${timeoutMs} ms; last status: ${JSON.stringify(last?.status)}`);
}

export const isPhase = (phase: string) => (i: any) => i?.status?.phase === phase;

/** How many NATS subscriptions exist on exactly this subject (from the server's monitoring endpoint). */
export async function subscriptionCount(w: World, subject: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${w.monitorPort}/connz?subs=1&limit=1024`);
  const body = (await res.json()) as { connections?: { subscriptions_list?: string[] }[] };
  let n = 0;
  for (const c of body.connections ?? []) for (const s of c.subscriptions_list ?? []) if (s === subject) n++;
  return n;
}
