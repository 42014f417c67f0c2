/**
 * A compromised node reaches only its own node's objects (issue 21), on the real kube-apiserver
 * with deploy/base's RBAC and its ValidatingAdmissionPolicy (admission-agent.yaml). The agent
 * runs as gantry-agent with a token bound to its Node object (TokenRequest boundObjectRef), which
 * the API server stamps with `authentication.kubernetes.io/node-name`. Every forbidden request
 * below is made with that token and refused by the API server itself (HTTP 403), each with its
 * own reason; the same agent's own work succeeds.
 */
import { createUser } from '@nats-io/nkeys';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerInstanceCrd } from '../../api/index.js';
import { KubeClient } from '../../runtime/kube.js';
import {
  applyAgentAdmission,
  controlPlaneAvailable,
  nodeBoundAgent,
  realKubectl,
  startTestApiServer,
  type TestApiServer,
} from '../support/apiserver.js';

const run = promisify(execFile);
const GS = 'gantry-system';
const APP = 'apps';
const instances = (name?: string) => `/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances${name ? `/${name}` : ''}`;
const leases = (name?: string) => `/apis/coordination.k8s.io/v1/namespaces/${GS}/leases${name ? `/${name}` : ''}`;
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: { code?: number; message?: string }) => e,
  );

describe.skipIf(!controlPlaneAvailable())('node-bound agent identity on the real API server', () => {
  let api: TestApiServer;
  let admin: KubeClient;
  let agentA: KubeClient; // gantry-agent, token bound to Node node-a
  let unbound: KubeClient; // gantry-agent, a token bound to nothing
  let agentAKubeconfig: string;

  beforeAll(async () => {
    api = await startTestApiServer({ ground: 'real' });
    admin = new KubeClient(api.kc);
    await applyAgentAdmission(api);
    await admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', providerInstanceCrd());
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP } });
    for (const n of ['node-a', 'node-b']) await admin.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
    const bound = await nodeBoundAgent(api, 'node-a');
    agentAKubeconfig = bound.kubeconfigPath;
    agentA = new KubeClient(bound.kc);
    unbound = new KubeClient((await api.identity('agent')).kc);
    for (const [name, node] of [
      ['on-a', 'node-a'],
      ['on-b', 'node-b'],
    ]) {
      for (let i = 0; ; i++) {
        try {
          await admin.create(instances(), {
            apiVersion: 'gantry.dev/v1alpha1',
            kind: 'ProviderInstance',
            metadata: { name, labels: { 'gantry.dev/provider': 'p', 'gantry.dev/node': node } },
            spec: {
              provider: 'p',
              nodeName: node,
              archive: { ref: 'registry.invalid/x', digest: `sha256:${'0'.repeat(64)}`, revision: 1 },
              target: 'x86_64-linux',
            },
          });
          break;
        } catch (err) {
          if (i > 100) throw err; // the CRD is served a moment after it is created
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }, 120_000);
  afterAll(async () => {
    for (const c of [admin, agentA, unbound]) c?.close();
    await api?.stop();
  });

  const setPhase = (c: KubeClient, name: string, phase: string) => c.mergePatch(`${instances(name)}/status`, { status: { phase } });

  it('the node-bound token carries its node, and the agent may not read Secrets outside gantry-nodes', async () => {
    const who = JSON.parse((await run(realKubectl(), ['--kubeconfig', agentAKubeconfig, 'auth', 'whoami', '-o', 'json'])).stdout);
    expect(who.status.userInfo.username).toBe(`system:serviceaccount:${GS}:gantry-agent`);
    expect(who.status.userInfo.extra['authentication.kubernetes.io/node-name']).toEqual(['node-a']);
    // the issue's acceptance check, asked as the admin impersonating the agent
    const canI = await run(realKubectl(), [
      '--kubeconfig',
      api.kubeconfigPath,
      'auth',
      'can-i',
      'get',
      'secrets',
      '-n',
      'default',
      '--as',
      `system:serviceaccount:${GS}:gantry-agent`,
    ]).then(
      (r) => r.stdout.trim(),
      (e) => (e.code === 1 ? e.stdout.trim() : Promise.reject(e)),
    );
    expect(canI).toBe('no');
    for (const ns of ['default', GS])
      await admin.create(`/api/v1/namespaces/${ns}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'cluster-secret' },
        data: { k: 'dg==' },
      });
    for (const ns of ['default', GS]) {
      const e = await refusal(agentA.get(`/api/v1/namespaces/${ns}/secrets/cluster-secret`));
      expect(e?.code).toBe(403);
      expect(e?.message).toContain(`cannot get resource "secrets" in API group "" in the namespace "${ns}"`);
    }
  });

  it("writes the status of its own node's instance; another node's is refused by the admission policy (403)", async () => {
    // the policy is enforced once the API server has loaded it: wait for the refusal, then check
    // the own-node write succeeds with the very same token
    let e: { code?: number; message?: string } | undefined;
    for (let i = 0; i < 100 && !e; i++) {
      e = await refusal(setPhase(agentA, 'on-b', 'Running'));
      if (!e) await new Promise((r) => setTimeout(r, 200));
    }
    expect(e?.code).toBe(403);
    expect(e?.message).toMatch(/gantry-agent-node-restriction.*may not write the status of an instance bound to node node-b/);
    expect((await admin.get(instances('on-b'))).status?.phase).toBeUndefined();
    expect((await setPhase(agentA, 'on-a', 'Running')).status.phase).toBe('Running');
  });

  it("writes its own instance's status.hostKey; node B's instance's hostKey is refused by the admission policy (403)", async () => {
    const key = createUser().getPublicKey();
    const setKey = (name: string) => agentA.mergePatch(`${instances(name)}/status`, { status: { hostKey: key } });
    let e: { code?: number; message?: string } | undefined;
    for (let i = 0; i < 100 && !e; i++) {
      e = await refusal(setKey('on-b'));
      if (!e) await new Promise((r) => setTimeout(r, 200));
    }
    expect(e?.code).toBe(403);
    expect(e?.message).toMatch(/gantry-agent-node-restriction.*may not write the status of an instance bound to node node-b/);
    expect((await admin.get(instances('on-b'))).status?.hostKey).toBeUndefined();
    expect((await setKey('on-a')).status.hostKey).toBe(key);
  });

  it("creates and renews its own Lease; another node's Lease cannot be created or renewed (403)", async () => {
    const lease = (name: string) => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name },
      spec: { holderIdentity: name, renewTime: new Date().toISOString().replace('Z', '000Z') },
    });
    const own = await agentA.create(leases(), lease('gantry-agent-node-a'));
    const renewed = await agentA.replace(leases('gantry-agent-node-a'), {
      ...own,
      spec: { ...own.spec, renewTime: new Date(Date.now() + 1000).toISOString().replace('Z', '000Z') },
    });
    expect(renewed.metadata.resourceVersion).not.toBe(own.metadata.resourceVersion);

    const create = await refusal(agentA.create(leases(), lease('gantry-agent-node-b')));
    expect(create?.code).toBe(403);
    expect(create?.message).toMatch(/may write only the Lease gantry-agent-node-a, not gantry-agent-node-b/);
    // node-b's real agent holds its Lease; node-a's agent cannot renew it to hide node-b's death
    const theirs = await admin.create(leases(), lease('gantry-agent-node-b'));
    const renew = await refusal(
      agentA.replace(leases('gantry-agent-node-b'), {
        ...theirs,
        spec: { ...theirs.spec, renewTime: new Date(Date.now() + 60_000).toISOString().replace('Z', '000Z') },
      }),
    );
    expect(renew?.code).toBe(403);
    expect(renew?.message).toMatch(/may write only the Lease gantry-agent-node-a/);
    const renewPatch = await refusal(
      agentA.mergePatch(leases('gantry-agent-node-b'), {
        spec: { renewTime: new Date(Date.now() + 60_000).toISOString().replace('Z', '000Z') },
      }),
    );
    expect(renewPatch?.code).toBe(403);
    expect((await admin.get(leases('gantry-agent-node-b'))).spec.renewTime).toBe(theirs.spec.renewTime);
    // nor the controller's leader Lease
    const ctl = await refusal(agentA.create(leases(), lease('gantry-controller')));
    expect(ctl?.code).toBe(403);
  });

  it('an agent token without the node claim writes nothing (fails closed)', async () => {
    const e = await refusal(setPhase(unbound, 'on-a', 'Failed'));
    expect(e?.code).toBe(403);
    expect(e?.message).toMatch(/must carry a node-bound token/);
    const l = await refusal(
      unbound.create(leases(), {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'gantry-agent-node-a-x' },
        spec: {},
      }),
    );
    expect(l?.code).toBe(403);
    expect((await admin.get(instances('on-a'))).status.phase).toBe('Running');
  });
});
