/**
 * The world the grant and host-identity tests share: an API server with Gantry's CRDs and
 * namespaces, a real nats-server in operator mode, the controller holding its membrane keys,
 * and (where a test calls a provider) an echo host on its own host credentials. Parts are kept
 * as they start, so `stop` after a failed `start` stops what did start.
 */
import { createUser } from '@nats-io/nkeys';
import { capabilityGrantCrd, providerCrd, providerInstanceCrd } from '../../api/index.js';
import { grantsPath } from '../../controller/grants/reconcile.js';
import { startController, type ControllerOptions, type RunningController } from '../../controller/index.js';
import { KubeApiError, KubeClient } from '../../runtime/kube.js';
import { startTestApiServer, type TestApiServer } from '../support/apiserver.js';
import { startMembraneNats, type MembraneNats } from '../support/nats.js';
import { NS, makeHost, stopAllHosts } from '../host/helpers.js';

export const SYSTEM = 'gantry-system';

/** Polls `f` until it returns a value; a throw counts as "not yet". */
export async function waitFor<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await Promise.resolve()
      .then(f)
      .catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A fresh grantee: its public key and its seed (which never leaves the test). */
export function user() {
  const kp = createUser();
  return { key: kp.getPublicKey(), seed: new TextDecoder().decode(kp.getSeed()) };
}

/** The echo host `echo-0` in `NS`, connected with its own instance's host credentials. */
export async function startEchoHost(nats: MembraneNats): Promise<void> {
  await makeHost(nats.url, {
    provider: 'echo',
    instance: 'echo-0',
    expectedCapid: 'gantry:echo',
    nats: { servers: nats.url, credsFile: nats.hostCreds({ namespace: NS, provider: 'echo', instance: 'echo-0', capid: 'gantry:echo' }) },
  }).start();
}

export interface GrantWorldOptions {
  /** Namespaces to create besides gantry-system. */
  namespaces: string[];
  /** Start the echo host before the controller. */
  echoHost?: boolean;
  /** Run the controller as its own identity (deploy/base's RBAC on the real server), not as admin. */
  asController?: boolean;
  membrane?: Parameters<typeof startMembraneNats>[0];
  /** More controller options (JWT lifetimes). */
  controller?: Partial<ControllerOptions>;
}

export class GrantWorld {
  api!: TestApiServer;
  kube!: KubeClient;
  nats!: MembraneNats;
  controller!: RunningController;

  constructor(private readonly o: GrantWorldOptions) {}

  async start(): Promise<void> {
    this.api = await startTestApiServer();
    this.kube = new KubeClient(this.api.kc);
    for (const crd of [providerCrd(), providerInstanceCrd(), capabilityGrantCrd()])
      await this.kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    for (const ns of [SYSTEM, ...this.o.namespaces])
      await this.kube.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }).catch((e) => {
        if (!(e instanceof KubeApiError && e.code === 409)) throw e; // the real ground made gantry-system
      });
    const first = this.o.namespaces[0];
    await waitFor('CRDs served', async () => {
      await this.kube.list(grantsPath(first));
      return this.kube.list(`/apis/gantry.dev/v1alpha1/namespaces/${first}/providerinstances`);
    });
    this.nats = await startMembraneNats(this.o.membrane);
    if (this.o.echoHost) await startEchoHost(this.nats);
    this.controller = await startController({
      kubeConfig: this.o.asController ? (await this.api.identity('controller')).kc : this.api.kc,
      namespace: SYSTEM,
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
      membrane: { authority: this.nats.authority, servers: this.nats.url },
      ...this.o.controller,
    });
  }

  async stop(): Promise<void> {
    await this.controller?.stop();
    await stopAllHosts();
    await this.nats?.stop();
    this.kube?.close();
    await this.api?.stop();
  }
}
