/**
 * The whole flow with nothing but deploy/base's RBAC on the real kube-apiserver (issue 28): the
 * controller runs as gantry-controller (its ServiceAccount's token, not an admin), one agent as
 * gantry-agent with a token bound to its Node and the admission policy on, a real nats-server
 * in operator mode holds the membrane, and a real registry wants a password. A Provider whose
 * archive needs a pull secret reaches Running: the controller resolves it with the Provider's
 * secret, places the instance, seals the pull credential to the node's key in gantry-nodes and
 * signs the host key the agent wrote on the instance's status; the agent opens the credential,
 * pulls, and its host serves calls on its node-made identity. A verb missing from deploy/base
 * (a Secret the agent may not read, a status the controller may not patch) stops the flow here.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Agent, startAgent } from '../../agent/index.js';
import { hostTarget } from '../../agent/target.js';
import { capabilityGrantCrd, instancePullCredsSecretName, providerCrd, providerInstanceCrd } from '../../api/index.js';
import { callProvider } from '../../client/call.js';
import { connectNats } from '../../client/nats.js';
import { startController, type RunningController } from '../../controller/index.js';
import { decodeJwt } from '../../client/jwt.js';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import { KubeClient } from '../../runtime/kube.js';
import { buildProviders, providerLib, text } from '../host/helpers.js';
import {
  applyAgentAdmission,
  controlPlaneAvailable,
  nodeBoundAgent,
  realKubectl,
  startTestApiServer,
  type TestApiServer,
} from '../support/apiserver.js';
import { type MembraneNats, startMembraneNats } from '../support/nats.js';
import { type RegistryServer, startRegistry } from '../support/registry.js';

const run = promisify(execFile);
const GS = 'gantry-system';
const CREDS = 'gantry-nodes';
const APP = 'apps';
const NODE = 'worker-1';
const robot = { username: 'robot', password: 'least-privilege-pw' };
const providers = `/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers`;
const instances = `/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances`;

/** Waits for `f`; a timeout says what was last seen (`seen`), e.g. the instance's reason, not just "timed out". */
async function waitFor<T>(
  what: string,
  f: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 60_000,
  seen: () => unknown = () => undefined,
): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}; last seen: ${JSON.stringify(seen())}`,
      );
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe.skipIf(!controlPlaneAvailable())("the whole flow with deploy/base's RBAC only, on the real API server", () => {
  let api: TestApiServer;
  let admin: KubeClient;
  let nats: MembraneNats;
  let registry: RegistryServer;
  let controller: RunningController | undefined;
  let agent: Agent | undefined;
  let cacheDir: string;
  const issuerSeed = generateSeed('account');

  beforeAll(async () => {
    buildProviders();
    api = await startTestApiServer({ ground: 'real' }); // deploy/base's namespaces, ServiceAccounts and RBAC
    admin = new KubeClient(api.kc);
    await applyAgentAdmission(api);
    for (const crd of [providerCrd(), providerInstanceCrd(), capabilityGrantCrd()])
      await admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP } });
    await admin.create('/api/v1/nodes', {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: NODE, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': NODE } },
    });
    await admin.mergePatch(`/api/v1/nodes/${NODE}/status`, {
      status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }] },
    });
    await waitFor('CRDs served', () => admin.list(providers));

    registry = await startRegistry({ basicAuth: { user: robot.username, password: robot.password } });
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
    await openArchiveStore(`${registry.host}/acme/echo`, { plainHttpRegistries: [registry.host], credentials: robot }).push(bytes);
    nats = await startMembraneNats();
    cacheDir = mkdtempSync(join(tmpdir(), 'gantry-least-privilege-'));
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await controller?.stop();
    await nats?.stop();
    await registry?.stop();
    admin?.close();
    await api?.stop();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
  });

  it('a Provider with a pull secret reaches Running, its host serving on its node-made identity, as the ServiceAccounts deploy/ binds', async () => {
    const controllerId = await api.identity('controller');
    const agentId = await nodeBoundAgent(api, NODE);
    // neither identity is an admin
    for (const kc of [controllerId.kubeconfigPath, agentId.kubeconfigPath]) {
      const who = JSON.parse((await run(realKubectl(), ['--kubeconfig', kc, 'auth', 'whoami', '-o', 'json'])).stdout);
      expect(who.status.userInfo.groups).not.toContain('system:masters');
    }
    agent = await startAgent({
      kubeConfig: agentId.kc,
      node: NODE,
      natsUrl: nats.url,
      namespace: GS,
      credentialsNamespace: CREDS,
      cacheDir,
      trustedIssuers: [publicKeyFromSeed(issuerSeed)],
      plainHttpRegistries: [registry.host],
      membrane: true,
      membraneAccount: nats.authority.accountKey,
      hostPoolSize: 0,
    });
    controller = await startController({
      kubeConfig: controllerId.kc,
      namespace: GS,
      credentialsNamespace: CREDS,
      trustedIssuers: [publicKeyFromSeed(issuerSeed)],
      plainHttpRegistries: [registry.host],
      leaderElection: { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 },
      membrane: { authority: nats.authority, servers: nats.url },
    });
    const auth = Buffer.from(`${robot.username}:${robot.password}`).toString('base64');
    await admin.create(`/api/v1/namespaces/${APP}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'robot' },
      data: { '.dockerconfigjson': Buffer.from(JSON.stringify({ auths: { [registry.host]: { auth } } })).toString('base64') },
    });
    await admin.create(providers, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: 'echo' },
      spec: { archive: { ref: `${registry.host}/acme/echo`, pullSecrets: [{ name: 'robot' }] }, replicas: 1 },
    });

    let seen: any[] = [];
    const running = await waitFor(
      'the instance Running',
      async () => {
        seen = (await admin.list(instances)).items as any[];
        return seen.find((i) => i.status?.phase === 'Running');
      },
      120_000,
      () => seen.map((i) => ({ name: i.metadata.name, status: i.status })),
    );
    expect(running.spec.nodeName).toBe(NODE);
    // the host's identity: a key made on the node, signed by the controller into status
    const hostCreds = running.status.conditions.find((c: any) => c.type === 'HostCredentials');
    expect(hostCreds).toMatchObject({ status: 'True', reason: 'Issued' });
    const claims = decodeJwt(running.status.hostJwt);
    expect(claims.sub).toBe(running.status.hostKey);
    expect(claims.iss).toBe(nats.authority.accountKey);
    // the pull credential is in gantry-nodes, sealed, and nowhere in gantry-system
    const name = instancePullCredsSecretName(APP, running.metadata.name);
    const sealed = await admin.get(`/api/v1/namespaces/${CREDS}/secrets/${name}`);
    expect(sealed.type).toBe('gantry.dev/sealed-pull-credential');
    expect(JSON.stringify(sealed)).not.toContain(robot.password);
    expect(JSON.stringify(sealed)).not.toContain(auth);
    expect(await admin.get(`/api/v1/namespaces/${GS}/secrets/${name}`).catch((e) => e.code)).toBe(404);
    // and the host serves
    const nc = await connectNats({ servers: nats.url, credsFile: nats.adminCreds });
    try {
      const res = await callProvider(nc, { namespace: APP, provider: 'echo', op: 'Echo', data: 'least privilege', timeoutMs: 5000 });
      expect(text(res.reply)).toBe('least privilege');
    } finally {
      await nc.close();
    }
  }, 180_000);
});
