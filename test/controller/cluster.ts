/**
 * Test fixture for controller integration tests: the API emulator with Gantry's CRDs, a real
 * docker-registry holding real signed archives (made with par/, pushed with registry/), Nodes
 * and agent Leases created by the test (standing in for kubelets and agents), and helpers to
 * mark instances Running as an agent would. One cluster (and so one registry) per test file.
 */
import { providerCrd, providerInstanceCrd, agentLeaseName } from '../../api/index.js';
import { KubeClient, isAlreadyExists, isNotFound, type KubeConfig } from '../../runtime/kube.js';
import { startTestApiServer, type ApiGround, type TestApiServer } from '../support/apiserver.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { startController, type ControllerOptions, type RunningController } from '../../controller/index.js';

export const NS = 'gantry-system';
/** Where the controller writes the sealed pull credentials (deploy/base/namespace.yaml). */
export const CREDENTIALS_NS = 'gantry-nodes';
export const APP = 'apps';

export interface PublishOptions {
  revision: number;
  /** account seed that signs the claims (default: the cluster's trusted issuer) */
  issuerSeed?: string;
  capid?: string;
  targets: string[];
}

export interface Cluster {
  api: TestApiServer;
  /** The test's own client (cluster admin: it plays kubectl user, kubelets and agents). */
  client: KubeClient;
  /** Who the controller under test runs as: deploy/base's gantry-controller ServiceAccount on the real API server. */
  controllerKc: KubeConfig;
  controllerKubeconfigPath: string;
  /** The real registry archives are published to (plain HTTP on loopback). */
  registry: RegistryServer;
  /** An account seed and its public key: the issuer tests usually trust. */
  issuerSeed: string;
  issuer: string;
  /** `${registry.host}/${repo}` */
  ref(repo: string): string;
  /** Creates a small signed archive (one tiny "binary" per target) and pushes it; returns its manifest digest. */
  publish(repo: string, opts: PublishOptions): Promise<string>;
  addNode(
    name: string,
    arch: string,
    os?: string,
    extra?: { taints?: any[]; labels?: Record<string, string>; unschedulable?: boolean; ready?: boolean; agent?: boolean },
  ): Promise<void>;
  heartbeat(node: string, at?: Date): Promise<void>;
  patchNode(name: string, patch: unknown): Promise<void>;
  deleteNode(name: string): Promise<void>;
  setNodeReady(name: string, ready: boolean): Promise<void>;
  instances(provider: string): Promise<any[]>;
  provider(name: string): Promise<any>;
  applyProvider(name: string, spec: Record<string, unknown>): Promise<void>;
  patchProvider(name: string, spec: Record<string, unknown>): Promise<void>;
  /** Marks every Pending instance of `provider` Running (as agents would) and returns how many. */
  markRunning(provider: string): Promise<number>;
  events(provider: string): Promise<any[]>;
  stop(): Promise<void>;
}

/** Leader election fast enough for tests. */
export const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

/** A controller on this cluster, trusting its issuer and its plain-HTTP registry. */
export function startClusterController(c: Cluster, extra: Partial<ControllerOptions> = {}): Promise<RunningController> {
  return startController({
    kubeConfig: c.api.kc,
    namespace: NS,
    trustedIssuers: [c.issuer],
    plainHttpRegistries: [c.registry.host],
    leaderElection: fastLeader,
    ...extra,
  });
}

/** Stops what a test started, in order, skipping what never started. */
export async function stopAll(...parts: ({ stop(): Promise<void> } | undefined)[]): Promise<void> {
  for (const p of parts) await p?.stop();
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

const subjectSeed = generateSeed('service');

export async function startCluster(opts: { ground?: ApiGround } = {}): Promise<Cluster> {
  const registry = await startRegistry();
  const api = await startTestApiServer({ ground: opts.ground }).catch(async (err) => {
    await registry.stop();
    throw err;
  });
  const issuerSeed = generateSeed('account');
  const client = new KubeClient(api.kc);
  for (const crd of [providerCrd(), providerInstanceCrd()])
    await client.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  for (const ns of [NS, CREDENTIALS_NS, APP]) {
    try {
      await client.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
  }
  // CRDs become servable asynchronously on a real server; wait until the paths answer
  await waitFor('CRDs served', async () => (await client.list(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers`)) !== undefined);
  const controller = await api.identity('controller');
  const pPath = (name = '') => `/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers${name ? '/' + name : ''}`;
  const c: Cluster = {
    api,
    client,
    controllerKc: controller.kc,
    controllerKubeconfigPath: controller.kubeconfigPath,
    registry,
    issuerSeed,
    issuer: publicKeyFromSeed(issuerSeed),
    ref: (repo) => `${registry.host}/${repo}`,
    async publish(repo, o) {
      const binaries: Record<string, Uint8Array> = {};
      for (const t of o.targets) binaries[t] = new TextEncoder().encode(`${repo} ${t} revision ${o.revision}`);
      const bytes = await createPar({
        name: repo.split('/').pop()!,
        vendor: 'gantry-test',
        capid: o.capid,
        version: `1.${o.revision}.0`,
        revision: o.revision,
        issuerSeed: o.issuerSeed ?? issuerSeed,
        subjectSeed,
        binaries,
      });
      return (await openArchiveStore(c.ref(repo), { plainHttpRegistries: [registry.host] }).push(bytes)).digest;
    },
    async addNode(name, arch, os = 'linux', extra = {}) {
      await client.create('/api/v1/nodes', {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name, labels: { 'kubernetes.io/arch': arch, 'kubernetes.io/os': os, 'kubernetes.io/hostname': name, ...extra.labels } },
        spec: { unschedulable: extra.unschedulable, taints: extra.taints },
      });
      await client.mergePatch(`/api/v1/nodes/${name}/status`, {
        status: { conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True', reason: 'KubeletReady' }] },
      });
      if (extra.agent !== false) await c.heartbeat(name);
    },
    async heartbeat(node, at = new Date()) {
      const path = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${agentLeaseName(node)}`;
      const renewTime = at.toISOString().replace('Z', '000Z');
      try {
        await client.mergePatch(path, { spec: { renewTime } });
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await client.create(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: agentLeaseName(node), namespace: NS },
          spec: { holderIdentity: node, leaseDurationSeconds: 10, renewTime, acquireTime: renewTime },
        });
      }
    },
    async patchNode(name, patch) {
      await client.mergePatch(`/api/v1/nodes/${name}`, patch);
    },
    async deleteNode(name) {
      await client.delete(`/api/v1/nodes/${name}`);
    },
    async setNodeReady(name, ready) {
      await client.mergePatch(`/api/v1/nodes/${name}/status`, {
        status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: 'Test' }] },
      });
    },
    async instances(provider) {
      const l = await client.list(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances`, {
        labelSelector: `gantry.dev/provider=${provider}`,
      });
      return l.items.filter((i: any) => !i.metadata.deletionTimestamp);
    },
    provider: (name) => client.get(pPath(name)),
    async applyProvider(name, spec) {
      await client.create(pPath(), { apiVersion: 'gantry.dev/v1alpha1', kind: 'Provider', metadata: { name, namespace: APP }, spec });
    },
    async patchProvider(name, spec) {
      await client.mergePatch(pPath(name), { spec });
    },
    async markRunning(provider) {
      let n = 0;
      for (const i of await c.instances(provider)) {
        if (i.status?.phase === 'Running') continue;
        await client.mergePatch(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances/${i.metadata.name}/status`, {
          status: { phase: 'Running', restartCount: 0 },
        });
        n++;
      }
      return n;
    },
    async events(provider) {
      const l = await client.list(`/api/v1/namespaces/${APP}/events`);
      return l.items.filter((e: any) => e.involvedObject?.name === provider);
    },
    async stop() {
      client.close();
      await api.stop();
      await registry.stop();
    },
  };
  return c;
}
