/**
 * The world the activation tests share, every part real: an API server (emulated or real, with
 * deploy/base's identities on the real one), a registry holding a signed archive of the C echo
 * provider, nats-server in operator mode holding the membrane, one agent (its hosts on their
 * node-made identities), the controller, and the activation responder on a bus user minted
 * with controllerBusPermissions. Until the autoscaler is wired in, `ScaleActivator` stands in
 * for it: it scales a Provider 0→1 through the scale subresource, as the autoscaler will.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { type Agent, startAgent } from '../../../agent/index.js';
import { hostTarget } from '../../../agent/target.js';
import { capabilityGrantCrd, type Provider, type ProviderInstance, providerCrd, providerInstanceCrd } from '../../../api/index.js';
import { formatCreds } from '../../../client/creds.js';
import { connectNats } from '../../../client/nats.js';
import type { ActivateOutcome, Activator } from '../../../controller/autoscale/contract.js';
import { type ActivationResponder, serveActivation } from '../../../controller/activation/responder.js';
import { startController, type RunningController } from '../../../controller/index.js';
import { controllerBusPermissions, granteePermissions, type GrantTarget } from '../../../membrane/permissions.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../../par/index.js';
import { openArchiveStore } from '../../../registry/index.js';
import { Informer } from '../../../runtime/informer.js';
import { KubeApiError, KubeClient, isNotFound } from '../../../runtime/kube.js';
import { buildProviders, providerLib } from '../../host/helpers.js';
import { applyAgentAdmission, nodeBoundAgent, startTestApiServer, type TestApiServer } from '../../support/apiserver.js';
import { type MembraneNats, startMembraneNats } from '../../support/nats.js';
import { type RegistryServer, startRegistry } from '../../support/registry.js';

export const APP = 'apps';
const GS = 'gantry-system';
const CREDS = 'gantry-nodes';
const NODE = 'worker-1';
const group = '/apis/gantry.dev/v1alpha1';
export const providersPath = (name = '') => `${group}/namespaces/${APP}/providers${name ? `/${name}` : ''}`;

/** The autoscaler's part, played by the test: 0→1 through the scale subresource for the Providers it autoscales. */
export class ScaleActivator implements Activator {
  readonly calls: { namespace: string; provider: string; caller: string }[] = [];
  constructor(
    private readonly kube: KubeClient,
    /** Stands in for spec.autoscale until the autoscaler lands: only these may be activated. */
    private readonly autoscaled: Set<string>,
  ) {}

  count(provider: string): number {
    return this.calls.filter((c) => c.provider === provider).length;
  }

  async activate(namespace: string, provider: string, caller: string): Promise<ActivateOutcome> {
    this.calls.push({ namespace, provider, caller });
    const scale = `${group}/namespaces/${namespace}/providers/${provider}/scale`;
    let replicas: number;
    try {
      replicas = (await this.kube.get(scale)).spec?.replicas ?? 0;
    } catch (e) {
      if (isNotFound(e)) return { ok: false, code: 'NOT_FOUND', message: `Provider ${namespace}/${provider} does not exist` };
      throw e;
    }
    if (!this.autoscaled.has(provider))
      return {
        ok: false,
        code: 'NOT_ACTIVATABLE',
        message: `Provider ${namespace}/${provider} has no spec.autoscale: its replicas are set by hand`,
      };
    if (replicas === 0) await this.kube.mergePatch(scale, { spec: { replicas: 1 } });
    return { ok: true, provider };
  }
}

export class ActivationWorld {
  api!: TestApiServer;
  admin!: KubeClient;
  nats!: MembraneNats;
  registry!: RegistryServer;
  agent?: Agent;
  controller?: RunningController;
  responder?: ActivationResponder;
  activator!: ScaleActivator;
  bus?: NatsConnection;
  instances?: Informer<ProviderInstance>;
  providers?: Informer<Provider>;
  archiveRef!: string;
  private cacheDir = mkdtempSync(join(tmpdir(), 'gantry-activation-'));
  private readonly conns: NatsConnection[] = [];

  async start(autoscaled: string[]): Promise<void> {
    buildProviders();
    this.api = await startTestApiServer();
    this.admin = new KubeClient(this.api.kc);
    for (const crd of [providerCrd(), providerInstanceCrd(), capabilityGrantCrd()])
      await this.admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    for (const ns of [GS, CREDS, APP])
      await this.admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch((e) => {
        if (!(e instanceof KubeApiError && e.code === 409)) throw e; // the real ground made deploy/base's
      });
    await this.admin.create('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: NODE, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': NODE } },
    });
    await this.admin.mergePatch(`/api/v1/nodes/${NODE}/status`, {
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
    });
    for (let i = 0; ; i++) {
      try {
        await this.admin.list(providersPath());
        break;
      } catch (e) {
        if (i > 200) throw e;
        await new Promise((r) => setTimeout(r, 50)); // CRDs are served asynchronously on the real server
      }
    }
    this.registry = await startRegistry();
    const issuerSeed = generateSeed('account');
    const bytes = await createPar({
      name: 'acme/echo',
      vendor: 'gantry-test',
      capid: 'gantry:echo',
      version: '1.0.0',
      revision: 1,
      issuerSeed,
      subjectSeed: generateSeed('service'),
      binaries: { [hostTarget()]: readFileSync(providerLib('echo')) },
    });
    this.archiveRef = `${this.registry.host}/acme/echo`;
    await openArchiveStore(this.archiveRef, { plainHttpRegistries: [this.registry.host] }).push(bytes);
    this.nats = await startMembraneNats();
    const issuer = publicKeyFromSeed(issuerSeed);
    let agentKc = (await this.api.identity('agent')).kc;
    if (this.api.controlPlane) {
      await applyAgentAdmission(this.api);
      agentKc = (await nodeBoundAgent(this.api, NODE)).kc;
    }
    this.agent = await startAgent({
      kubeConfig: agentKc,
      node: NODE,
      natsUrl: this.nats.url,
      namespace: GS,
      credentialsNamespace: CREDS,
      cacheDir: this.cacheDir,
      trustedIssuers: [issuer],
      plainHttpRegistries: [this.registry.host],
      membrane: true,
      membraneAccount: this.nats.authority.accountKey,
      hostPoolSize: 1,
    });
    const controllerKc = (await this.api.identity('controller')).kc;
    this.controller = await startController({
      kubeConfig: controllerKc,
      namespace: GS,
      credentialsNamespace: CREDS,
      trustedIssuers: [issuer],
      plainHttpRegistries: [this.registry.host],
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
      membrane: { authority: this.nats.authority, servers: this.nats.url },
    });
    // the responder reads what the controller's informers hold, as its own identity reads them
    const reader = new KubeClient(controllerKc);
    this.providers = new Informer<Provider>({ client: reader, path: `${group}/providers`, name: 'providers' });
    this.instances = new Informer<ProviderInstance>({ client: reader, path: `${group}/providerinstances`, name: 'providerinstances' });
    await Promise.all([this.providers.start(), this.instances.start()]);
    const busUser = this.nats.authority.mintUser('controller-bus', controllerBusPermissions);
    this.bus = await connectNats({ servers: this.nats.url, credsFile: this.nats.writeCreds('controller-bus', busUser.creds!) });
    this.activator = new ScaleActivator(this.admin, new Set(autoscaled));
    this.responder = await serveActivation({
      nc: this.bus,
      activator: this.activator,
      providers: this.providers,
      instances: this.instances,
    });
  }

  /** A Provider of the echo archive at 0 replicas. */
  async provider(name: string, spec: Record<string, unknown> = {}): Promise<void> {
    await this.admin.create(providersPath(), {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name },
      spec: { archive: { ref: this.archiveRef }, replicas: 0, ...spec },
    });
  }

  async replicas(name: string): Promise<number> {
    return (await this.admin.get(`${providersPath(name)}/scale`)).spec?.replicas ?? 0;
  }

  /** A grantee of `target` (its own key, a JWT the authority mints as a grant's): its creds file and key. */
  grantee(target: GrantTarget, operations = ['Echo']): { creds: string; key: string } {
    const kp = createUser();
    const key = kp.getPublicKey();
    const { jwt } = this.nats.authority.mintUser(`grant-${key.slice(0, 8)}`, (k) => granteePermissions(k, APP, target, operations), {
      userKey: key,
    });
    return { creds: this.nats.writeCreds('grantee', formatCreds(jwt, new TextDecoder().decode(kp.getSeed()))), key };
  }

  async connect(credsFile: string): Promise<NatsConnection> {
    const nc = await connectNats({ servers: this.nats.url, credsFile, connectTimeoutMs: 5000 });
    this.conns.push(nc);
    return nc;
  }

  async stop(): Promise<void> {
    await this.responder?.stop();
    await Promise.all(this.conns.map((c) => c.close().catch(() => {})));
    await this.bus?.close().catch(() => {});
    await this.providers?.stop();
    await this.instances?.stop();
    await this.agent?.stop();
    await this.controller?.stop();
    await this.nats?.stop();
    await this.registry?.stop();
    this.admin?.close();
    await this.api?.stop();
    rmSync(this.cacheDir, { recursive: true, force: true });
  }
}
