/**
 * The world the activation tests share, every part real: an API server (emulated or real, with
 * deploy/base's identities on the real one), a registry holding a signed archive of the C echo
 * provider, nats-server in operator mode holding the membrane, one agent (its hosts on their
 * node-made identities), and the controller — whose own bus user (controllerBusPermissions)
 * carries its activation responder, and whose autoscaler is the Activator that scales a
 * Provider with spec.autoscale 0→1 through the scale subresource.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { type Agent, startAgent } from '../../../agent/index.js';
import { hostTarget } from '../../../agent/target.js';
import { capabilityGrantCrd, providerCrd, providerInstanceCrd } from '../../../api/index.js';
import { formatCreds } from '../../../client/creds.js';
import { connectNats } from '../../../client/nats.js';
import { startController, type RunningController } from '../../../controller/index.js';
import { granteePermissions, type GrantTarget } from '../../../membrane/permissions.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../../par/index.js';
import { openArchiveStore } from '../../../registry/index.js';
import { KubeApiError, KubeClient } from '../../../runtime/kube.js';
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

export interface WorldTiming {
  autoscaleIntervalMs?: number;
  autoscaleWindowMs?: number;
  loadReportMs?: number;
}

export class ActivationWorld {
  api!: TestApiServer;
  admin!: KubeClient;
  nats!: MembraneNats;
  registry!: RegistryServer;
  agent?: Agent;
  controller?: RunningController;
  archiveRef!: string;
  private issuer!: string;
  private timing: WorldTiming = {};
  private controllerKc!: TestApiServer['kc'];
  private cacheDir = mkdtempSync(join(tmpdir(), 'gantry-activation-'));
  private readonly conns: NatsConnection[] = [];

  /** `timing`: the autoscaler's interval and window and the hosts' report interval (defaults: the products'). */
  async start(timing: WorldTiming = {}): Promise<void> {
    this.timing = timing;
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
      loadReportMs: timing.loadReportMs,
    });
    this.issuer = issuer;
    this.controllerKc = (await this.api.identity('controller')).kc;
    await this.startController();
  }

  /** The controller, with the membrane: its bus, activation responder and autoscaler come with it. */
  async startController(): Promise<void> {
    this.controller = await startController({
      kubeConfig: this.controllerKc,
      namespace: GS,
      credentialsNamespace: CREDS,
      trustedIssuers: [this.issuer],
      plainHttpRegistries: [this.registry.host],
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
      membrane: { authority: this.nats.authority, servers: this.nats.url },
      autoscaleIntervalMs: this.timing.autoscaleIntervalMs,
      autoscaleWindowMs: this.timing.autoscaleWindowMs,
    });
    // calls from here on may need an activation: wait for the leader's responder
    for (let i = 0; !this.controller.activation?.serving; i++) {
      if (i > 400) throw new Error('the controller did not start answering activation requests within 20 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The controller gone (its Lease released): nobody answers activation requests. */
  async stopController(): Promise<void> {
    await this.controller?.stop();
    this.controller = undefined;
  }

  /** How often the autoscaler activated `provider` (its Activated Events, counted). */
  async activations(provider: string): Promise<number> {
    const events = (await this.admin.list(`/api/v1/namespaces/${APP}/events`)).items as any[];
    return events
      .filter((e) => e.involvedObject?.kind === 'Provider' && e.involvedObject?.name === provider && e.reason === 'Activated')
      .reduce((n, e) => n + (e.count ?? 1), 0);
  }

  /** The callers whose calls activated `provider`, from its Activated Events' messages. */
  async activatedBy(provider: string): Promise<string[]> {
    const events = (await this.admin.list(`/api/v1/namespaces/${APP}/events`)).items as any[];
    return events
      .filter((e) => e.involvedObject?.name === provider && e.reason === 'Activated')
      .map((e) => /by a call of (\S+)/.exec(e.message)?.[1] ?? e.message);
  }

  /**
   * A Provider of the echo archive at 0 replicas; `autoscaled`: with spec.autoscale from zero
   * (to one at most, and no scale back to zero while the tests run), so activation may wake it.
   */
  async provider(name: string, spec: Record<string, unknown> = {}, autoscaled = true): Promise<void> {
    const autoscale = { minReplicas: 0, maxReplicas: 1, targetInFlightPerInstance: 100, scaleToZeroAfterSeconds: 3600 };
    await this.admin.create(providersPath(), {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name },
      spec: { archive: { ref: this.archiveRef }, replicas: 0, ...(autoscaled ? { autoscale } : {}), ...spec },
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
    await Promise.all(this.conns.map((c) => c.close().catch(() => {})));
    await this.agent?.stop();
    await this.controller?.stop();
    await this.nats?.stop();
    await this.registry?.stop();
    this.admin?.close();
    await this.api?.stop();
    rmSync(this.cacheDir, { recursive: true, force: true });
  }
}
