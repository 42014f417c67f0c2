/**
 * The autoscale bench's world, every part real but the API server (the in-process emulator):
 * nats-server in operator mode holding the membrane, a docker-registry holding a signed archive
 * of the C echo provider, one in-process agent (its hosts are their own processes, on
 * node-made identities) and the in-process controller, whose bus carries the load reports its
 * autoscaler decides on and the activation requests it answers. The bench watches Providers
 * and ProviderInstances and keeps, per Provider, when its replicas and its Running instances
 * changed (epoch ms, as the bench's watch saw them).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, startAgent } from '../../agent/index.js';
import { hostTarget } from '../../agent/target.js';
import { capabilityGrantCrd, providerCrd, providerInstanceCrd } from '../../api/index.js';
import { startApiServer } from '../../apiserver/index.js';
import { type RunningController, startController } from '../../controller/index.js';
import { MembraneAuthority } from '../../membrane/authority.js';
import { granteePermissions } from '../../membrane/permissions.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import { Informer, type KubeObject } from '../../runtime/informer.js';
import { KubeClient, loadKubeConfig } from '../../runtime/kube.js';
import { packageRoot } from '../../runtime/paths.js';
import { startBenchRegistry, type BenchRegistry } from '../local-registry.js';
import { type BenchNats, startBenchNats } from '../support/local-nats.js';

export const APP = 'apps';
const GS = 'gantry-system';
export const NODE = 'bench-node';
const group = '/apis/gantry.dev/v1alpha1';
export const providersPath = (name = '') => `${group}/namespaces/${APP}/providers${name ? `/${name}` : ''}`;
export const instancesPath = (name = '') => `${group}/namespaces/${APP}/providerinstances${name ? `/${name}` : ''}`;

/** A change of a Provider's figure as the bench's watch saw it: epoch ms and the new value. */
export type Change = [at: number, value: number];

interface Instance {
  provider: string;
  seenAt: number;
  runningAt?: number;
  deleting: boolean;
}

export interface WorldTiming {
  autoscaleIntervalMs?: number;
  autoscaleWindowMs?: number;
  loadReportMs?: number;
}

export class AutoscaleWorld {
  nats!: BenchNats;
  authority = MembraneAuthority.generate();
  registry!: BenchRegistry;
  api!: Awaited<ReturnType<typeof startApiServer>>;
  admin!: KubeClient;
  agent!: Agent;
  controller!: RunningController;
  archive!: { ref: string; digest: string };
  /** per Provider: spec.replicas and its Running (not deleting) instances, each change in order */
  readonly replicas = new Map<string, Change[]>();
  readonly running = new Map<string, Change[]>();
  readonly instances = new Map<string, Instance>();
  private informers: Informer<KubeObject>[] = [];
  private readonly cacheDir = mkdtempSync(join(tmpdir(), 'gantry-bench-autoscale-'));

  async start(timing: WorldTiming): Promise<void> {
    this.nats = await startBenchNats('gantry-bench-autoscale-nats-', (dir) => {
      mkdirSync(join(dir, 'jwt'), { recursive: true });
      return this.authority.serverConfig(join(dir, 'jwt'));
    });
    this.registry = await startBenchRegistry('gantry-bench-autoscale-reg-');
    this.api = await startApiServer({});
    const kubeConfig = loadKubeConfig({ kubeconfigYaml: this.api.kubeconfigYaml });
    this.admin = new KubeClient(kubeConfig);
    for (const crd of [providerCrd(), providerInstanceCrd(), capabilityGrantCrd()])
      await this.admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    for (const ns of [GS, APP])
      await this.admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    await this.admin.create('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: NODE, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': NODE } },
    });
    await this.admin.mergePatch(`/api/v1/nodes/${NODE}/status`, {
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
    });
    const issuerSeed = generateSeed('account');
    this.archive = await this.publishEcho(issuerSeed);
    await this.watch();
    const trustedIssuers = [publicKeyFromSeed(issuerSeed)];
    this.agent = await startAgent({
      kubeConfig,
      node: NODE,
      natsUrl: this.nats.url,
      namespace: GS,
      cacheDir: this.cacheDir,
      trustedIssuers,
      plainHttpRegistries: [this.registry.host],
      membrane: true,
      membraneAccount: this.authority.accountKey,
      loadReportMs: timing.loadReportMs,
    });
    this.controller = await startController({
      kubeConfig,
      namespace: GS,
      trustedIssuers,
      plainHttpRegistries: [this.registry.host],
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
      membrane: { authority: this.authority, servers: this.nats.url },
      autoscaleIntervalMs: timing.autoscaleIntervalMs,
      autoscaleWindowMs: timing.autoscaleWindowMs,
    });
    // calls from here on may need an activation: wait for the leader's responder
    await waitFor('the controller answering activation requests', () => this.controller.activation?.serving === true, 30_000);
  }

  private async publishEcho(issuerSeed: string): Promise<{ ref: string; digest: string }> {
    const bytes = await createPar({
      name: 'bench/echo',
      vendor: 'gantry-bench',
      capid: 'gantry:echo',
      version: '1.0.0',
      revision: 1,
      issuerSeed,
      subjectSeed: generateSeed('service'),
      binaries: { [hostTarget()]: readFileSync(join(packageRoot(), 'providers', 'build', 'echo.so')) },
    });
    const ref = `${this.registry.host}/bench/echo`;
    const { digest } = await openArchiveStore(ref, { plainHttpRegistries: [this.registry.host] }).push(bytes);
    return { ref, digest };
  }

  /** Watches of Providers (spec.replicas) and ProviderInstances (seen, Running, deleting). */
  private async watch(): Promise<void> {
    const record = (m: Map<string, Change[]>, key: string, v: number) => {
      const xs = m.get(key) ?? [];
      if (xs.at(-1)?.[1] !== v) xs.push([Date.now(), v]);
      m.set(key, xs);
    };
    const providers = new Informer<KubeObject>({ client: this.admin, path: providersPath() });
    const onProvider = (p: any) => record(this.replicas, p.metadata.name, p.spec?.replicas ?? 0);
    providers.addHandler({ add: onProvider, update: onProvider });
    const instances = new Informer<KubeObject>({ client: this.admin, path: instancesPath() });
    const recount = (provider: string) => {
      let n = 0;
      for (const i of this.instances.values()) if (i.provider === provider && i.runningAt && !i.deleting) n++;
      record(this.running, provider, n);
    };
    const onInstance = (o: any) => {
      const i: Instance = this.instances.get(o.metadata.name) ?? { provider: o.spec.provider, seenAt: Date.now(), deleting: false };
      if (o.status?.phase === 'Running' && !i.runningAt) i.runningAt = Date.now();
      i.deleting = Boolean(o.metadata.deletionTimestamp) || (i.runningAt !== undefined && o.status?.phase !== 'Running');
      this.instances.set(o.metadata.name, i);
      recount(i.provider);
    };
    const onGone = (o: any) => {
      this.instances.delete(o.metadata.name);
      recount(o.spec.provider);
    };
    instances.addHandler({ add: onInstance, update: onInstance, delete: onGone });
    this.informers = [providers, instances];
    for (const i of this.informers) await i.start();
  }

  /** The instances of `provider` the API still holds (Running or not). */
  instancesOf(provider: string): [string, Instance][] {
    return [...this.instances.entries()].filter(([, i]) => i.provider === provider);
  }

  /** A creds file for a grantee of Echo on `provider` (its own key): may call it, and wake it. */
  granteeCreds(provider: string): string {
    const { creds } = this.authority.mintUser(`bench-caller-${provider}`, (k) => granteePermissions(k, APP, { provider }, ['Echo']));
    const f = join(this.nats.dir, `caller-${provider}.creds`);
    writeFileSync(f, creds!, { mode: 0o600 });
    return f;
  }

  async provider(name: string, spec: Record<string, unknown>): Promise<void> {
    await this.admin.create(providersPath(), {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name },
      spec: { archive: { ref: this.archive.ref }, replicas: 0, ...spec },
    });
  }

  async stop(): Promise<void> {
    for (const i of this.informers) await i.stop();
    await this.agent?.stop();
    await this.controller?.stop();
    await this.authority.close();
    await this.nats?.stop();
    await this.registry?.stop();
    this.admin?.close();
    await this.api?.stop();
    rmSync(this.cacheDir, { recursive: true, force: true });
  }
}

/** Polls `ok` (in-memory state, cheap) every 5 ms until it holds; a timeout names what was awaited. */
export async function waitFor(what: string, ok: () => boolean, ms: number): Promise<number> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return Date.now();
}
