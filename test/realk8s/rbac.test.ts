/**
 * deploy/base's RBAC on the real kube-apiserver: the controller and agent ServiceAccounts can do
 * what their jobs need and are refused the rest (`kubectl auth can-i` with their own tokens),
 * and a verb missing from deploy/ makes the controller fail to do its job — the property that
 * lets the controller and agent suites on the real ground catch an RBAC gap.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { startController, type RunningController } from '../../controller/index.js';
import { controlPlaneAvailable, realKubectl, startTestApiServer } from '../support/apiserver.js';
import { KubeClient } from '../../runtime/kube.js';
import { providerCrd, providerInstanceCrd } from '../../api/index.js';
import { startCluster, waitFor, NS, APP, CREDENTIALS_NS as CREDS, type Cluster } from '../controller/cluster.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

describe.skipIf(!controlPlaneAvailable())('deploy/base RBAC on the real API server', () => {
  let c: Cluster;
  let agentKubeconfig: string;
  beforeAll(async () => {
    c = await startCluster({ ground: 'real' });
    agentKubeconfig = (await c.api.identity('agent')).kubeconfigPath;
  });
  afterAll(async () => {
    await c?.stop();
  });

  async function canI(kubeconfig: string, ...args: string[]): Promise<string> {
    // exit 0 = yes, 1 = no; anything else (and stderr) is a real failure
    try {
      return (await run(realKubectl(), ['--kubeconfig', kubeconfig, 'auth', 'can-i', ...args], { timeout: 20_000 })).stdout.trim();
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (e.code === 1 && e.stdout?.trim().startsWith('no')) return 'no';
      throw err;
    }
  }

  it('the tokens are the ServiceAccounts deploy/ binds, not an admin', async () => {
    for (const [kc, sa] of [
      [c.controllerKubeconfigPath, 'gantry-controller'],
      [agentKubeconfig, 'gantry-agent'],
    ]) {
      const who = JSON.parse((await run(realKubectl(), ['--kubeconfig', kc, 'auth', 'whoami', '-o', 'json'])).stdout);
      expect(who.status.userInfo.username).toBe(`system:serviceaccount:gantry-system:${sa}`);
      expect(who.status.userInfo.groups).not.toContain('system:masters');
    }
  });

  it('the agent may read its instances and write their status and its Lease, and nothing it must not', async () => {
    const yes = [
      ['list', 'providerinstances.gantry.dev', '-A'],
      ['watch', 'providerinstances.gantry.dev', '-n', APP],
      ['patch', 'providerinstances.gantry.dev', '--subresource=status', '-n', APP],
      ['get', 'secrets', '-n', CREDS], // its instances' sealed pull credentials, only in gantry-nodes
      ['update', 'leases.coordination.k8s.io/gantry-agent-node-a', '-n', NS],
    ];
    const no = [
      // it writes no Event: a node's token cannot flood or forge events anywhere (issue 29)
      ['create', 'events', '-n', APP],
      ['create', 'events', '-n', 'kube-system'],
      ['create', 'events.events.k8s.io', '-n', NS],
      ['create', 'providerinstances.gantry.dev', '-n', APP],
      ['delete', 'providerinstances.gantry.dev', '-n', APP],
      ['update', 'providerinstances.gantry.dev', '-n', APP], // re-binding an instance is the controller's
      ['patch', 'providers.gantry.dev', '-n', APP],
      ['patch', 'providers.gantry.dev', '--subresource=status', '-n', APP],
      ['patch', 'providers.gantry.dev', '--subresource=scale', '-n', APP],
      ['list', 'secrets', '-n', APP],
      // a compromised node reads no Secret outside gantry-nodes, and no Provider (issues 21, 28):
      // not the NATS servers' TLS key, nor anything else an operator keeps in gantry-system
      ['get', 'secrets', '-n', NS],
      ['get', 'secrets/gantry-nats-tls', '-n', NS],
      ['get', 'secrets/gantry-instance-x', '-n', NS],
      ['list', 'secrets', '-n', CREDS],
      ['watch', 'secrets', '-n', CREDS],
      ['create', 'secrets', '-n', CREDS],
      ['update', 'secrets', '-n', CREDS],
      ['delete', 'secrets', '-n', CREDS],
      ['get', 'secrets', '-n', APP],
      ['get', 'secrets', '-n', 'default'],
      ['get', 'secrets', '-A'],
      ['list', 'secrets', '-n', NS],
      ['get', 'providers.gantry.dev', '-n', APP],
      ['list', 'providers.gantry.dev', '-A'],
      ['create', 'pods', '-n', APP],
      ['update', 'nodes'],
      ['update', 'leases.coordination.k8s.io', '-n', 'kube-node-lease'],
      ['delete', 'leases.coordination.k8s.io', '-n', NS],
      ['create', 'clusterrolebindings.rbac.authorization.k8s.io'],
      ['create', 'serviceaccounts/token', '-n', NS],
      ['impersonate', 'serviceaccounts', '-n', NS],
      // the membrane's keys: in a namespace where an agent has no right at all (issue 28)
      ['get', 'secrets/gantry-membrane-keys', '-n', 'gantry-membrane'],
      ['list', 'secrets', '-n', 'gantry-membrane'],
    ];
    for (const a of yes) expect(await canI(agentKubeconfig, ...a), `agent ${a.join(' ')}`).toBe('yes');
    for (const a of no) expect(await canI(agentKubeconfig, ...a), `agent ${a.join(' ')}`).toBe('no');
  });

  it("the agent's own token is refused (403) a Secret in any namespace but gantry-nodes, gantry-system's TLS key too, and may read one in gantry-nodes", async () => {
    const agent = new KubeClient((await c.api.identity('agent')).kc);
    try {
      for (const ns of [APP, NS, CREDS]) {
        await c.client.create(`/api/v1/namespaces/${ns}/secrets`, {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'issue21-probe' },
          data: { k: Buffer.from('v').toString('base64') },
        });
      }
      const refused = await agent.get(`/api/v1/namespaces/${APP}/secrets/issue21-probe`).then(
        () => undefined,
        (e) => e,
      );
      expect(refused?.code).toBe(403);
      expect(String(refused?.message)).toMatch(/forbidden/i);
      // gantry-system holds the NATS servers' TLS key (gantry-nats-tls): a node that read it could pose as a server
      await c.client.create(`/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'kubernetes.io/tls',
        metadata: { name: 'gantry-nats-tls' },
        data: { 'tls.crt': Buffer.from('crt').toString('base64'), 'tls.key': Buffer.from('key').toString('base64') },
      });
      for (const name of ['gantry-nats-tls', 'issue21-probe']) {
        const e = await agent.get(`/api/v1/namespaces/${NS}/secrets/${name}`).then(
          () => undefined,
          (err) => err,
        );
        expect(e?.code, `${NS}/${name}`).toBe(403);
        expect(String(e?.message)).toMatch(/secrets "[^"]+" is forbidden: User "system:serviceaccount:gantry-system:gantry-agent"/);
      }
      const providerRead = await agent.get(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers/anything`).then(
        () => undefined,
        (e) => e,
      );
      expect(providerRead?.code).toBe(403);
      expect((await agent.get(`/api/v1/namespaces/${CREDS}/secrets/issue21-probe`)).metadata.name).toBe('issue21-probe');
    } finally {
      agent.close();
    }
  });

  it("the controller may place instances, sign host keys, write sealed pull credentials and hold its own Lease, and may not touch pods, write Secrets in gantry-system or renew agents' Leases", async () => {
    const yes = [
      ['create', 'providerinstances.gantry.dev', '-n', APP],
      ['delete', 'providerinstances.gantry.dev', '-n', APP],
      ['patch', 'providers.gantry.dev', '--subresource=status', '-n', APP],
      // the autoscaler writes spec.replicas through the scale subresource only (issue 32)
      ['patch', 'providers.gantry.dev', '--subresource=scale', '-n', APP],
      ['update', 'providers.gantry.dev', '--subresource=scale', '-n', APP],
      ['list', 'nodes'],
      ['update', 'leases.coordination.k8s.io/gantry-controller', '-n', NS],
      ['get', 'secrets/gantry-membrane-keys', '-n', 'gantry-membrane'], // read at start (--membrane-keys-secret)
      // host identities: status.hostJwt and the HostCredentials condition (controller/credentials/host.ts)
      ['patch', 'providerinstances.gantry.dev', '--subresource=status', '-n', APP],
      // the sealed pull credentials (controller/credentials/pull.ts)
      ...['get', 'list', 'create', 'update', 'delete'].map((v) => [v, 'secrets', '-n', CREDS]),
      // the migration sweep of what an older release left in gantry-system
      ['list', 'secrets', '-n', NS],
      ['delete', 'secrets', '-n', NS],
    ];
    const no = [
      ['patch', 'providers.gantry.dev', '-n', APP],
      ['delete', 'providers.gantry.dev', '-n', APP],
      ['list', 'secrets', '-n', APP],
      // no host credential Secrets any more: the keys are made on the nodes
      ['create', 'secrets', '-n', NS],
      ['update', 'secrets', '-n', NS],
      ['create', 'pods', '-n', APP],
      ['patch', 'nodes'],
      ['update', 'leases.coordination.k8s.io/gantry-agent-node-a', '-n', NS],
      ['create', 'leases.coordination.k8s.io', '-n', APP],
      ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
    ];
    for (const a of yes) expect(await canI(c.controllerKubeconfigPath, ...a), `controller ${a.join(' ')}`).toBe('yes');
    for (const a of no) expect(await canI(c.controllerKubeconfigPath, ...a), `controller ${a.join(' ')}`).toBe('no');
  });

  describe('a verb missing from deploy/ fails the controller', () => {
    let ctl: RunningController | undefined;
    afterAll(async () => {
      await ctl?.stop();
    });

    it("without create on providerinstances nothing is placed; with deploy/'s role it is", async () => {
      const docs = parseAllDocuments(readFileSync(join(repo, 'deploy', 'base', 'rbac-controller.yaml'), 'utf8')).map((d) => d.toJSON());
      const role = docs.find((d) => d.kind === 'ClusterRole' && d.metadata.name === 'gantry-controller');
      const weakened = structuredClone(role);
      const rule = weakened.rules.find((r: any) => r.resources.includes('providerinstances'));
      rule.verbs = rule.verbs.filter((v: string) => v !== 'create');
      await c.client.replace(`/apis/rbac.authorization.k8s.io/v1/clusterroles/gantry-controller`, {
        ...weakened,
        metadata: {
          ...weakened.metadata,
          resourceVersion: (await c.client.get('/apis/rbac.authorization.k8s.io/v1/clusterroles/gantry-controller')).metadata
            .resourceVersion,
        },
      });
      expect(await canI(c.controllerKubeconfigPath, 'create', 'providerinstances.gantry.dev', '-n', APP)).toBe('no');

      await c.publish('acme/rbac', { revision: 1, targets: ['x86_64-linux'] });
      await c.addNode('rbac-1', 'amd64');
      ctl = await startController({
        kubeConfig: c.controllerKc,
        namespace: NS,
        trustedIssuers: [c.issuer],
        plainHttpRegistries: [c.registry.host],
        leaderElection: fastLeader,
      });
      await c.applyProvider('rbac', { archive: { ref: c.ref('acme/rbac') }, replicas: 1 });
      // the parts it may do happen (resolution is written to status) ...
      await waitFor('resolved', async () => (await c.provider('rbac')).status?.resolved?.revision === 1);
      // ... and the placement it may not do does not
      // and status says why: Scheduled=False with the API server's refusal (issue 29: it said
      // Scheduled=True AllReplicasPlaced while every create was refused)
      const st = await waitFor('Scheduled=False for the refused create', async () => {
        const s = (await c.provider('rbac')).status;
        return s?.conditions?.find((x: any) => x.type === 'Scheduled' && x.status === 'False') && s;
      });
      const scheduled = st.conditions.find((x: any) => x.type === 'Scheduled');
      expect(scheduled.reason).toBe('InstanceCreateRefused');
      expect(scheduled.message).toMatch(
        /^1 of 1 instance creates refused by the API server \(Forbidden\): .*providerinstances\.gantry\.dev is forbidden/,
      );
      expect(await c.instances('rbac')).toEqual([]);
      expect(st.replicas).toBe(0);
      expect(st.conditions.find((x: any) => x.type === 'Ready').status).toBe('False');

      // deploy/'s role back: the same controller, retrying, places the replica
      await c.client.replace(`/apis/rbac.authorization.k8s.io/v1/clusterroles/gantry-controller`, {
        ...role,
        metadata: {
          ...role.metadata,
          resourceVersion: (await c.client.get('/apis/rbac.authorization.k8s.io/v1/clusterroles/gantry-controller')).metadata
            .resourceVersion,
        },
      });
      const placed = await waitFor(
        '1 instance once create is granted',
        async () => {
          const l = await c.instances('rbac');
          return l.length === 1 && l;
        },
        60_000,
      );
      expect(placed[0].spec.nodeName).toBe('rbac-1');
      // and Scheduled says so again
      await waitFor('Scheduled=True once placed', async () =>
        (await c.provider('rbac')).status?.conditions?.some((x: any) => x.type === 'Scheduled' && x.status === 'True'),
      );
    });
  });

  it("with OwnerReferencesPermissionEnforcement (on by default in OpenShift) the controller may still create instances that block their Provider's deletion", async () => {
    // that admission plugin lets only who may update providers/finalizers set blockOwnerDeletion
    // on an ownerReference to a Provider, which every instance the controller creates carries
    const api = await startTestApiServer({
      ground: 'real',
      controlPlane: { apiserverArgs: ['--enable-admission-plugins=OwnerReferencesPermissionEnforcement'] },
    });
    const admin = new KubeClient(api.kc);
    const asController = new KubeClient((await api.identity('controller')).kc);
    try {
      for (const crd of [providerCrd(), providerInstanceCrd()])
        await admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
      await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP } });
      const p: any = await waitFor<any>('Providers served', () =>
        admin.create(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers`, {
          apiVersion: 'gantry.dev/v1alpha1',
          kind: 'Provider',
          metadata: { name: 'owner' },
          spec: { archive: { ref: 'registry.invalid/x' } },
        }),
      );
      const inst = await asController.create(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances`, {
        apiVersion: 'gantry.dev/v1alpha1',
        kind: 'ProviderInstance',
        metadata: {
          name: 'owner-1',
          labels: { 'gantry.dev/provider': 'owner', 'gantry.dev/node': 'n1' },
          ownerReferences: [
            {
              apiVersion: 'gantry.dev/v1alpha1',
              kind: 'Provider',
              name: 'owner',
              uid: p.metadata.uid,
              controller: true,
              blockOwnerDeletion: true,
            },
          ],
        },
        spec: {
          provider: 'owner',
          nodeName: 'n1',
          archive: { ref: 'registry.invalid/x', digest: `sha256:${'0'.repeat(64)}`, revision: 1 },
          target: 'x86_64-linux',
        },
      });
      expect(inst.metadata.ownerReferences[0].blockOwnerDeletion).toBe(true);
    } finally {
      admin.close();
      asController.close();
      await api.stop();
    }
  });
});
