/**
 * No membrane key and no other node's pull credential within one node's reach (issue 28), on
 * the real kube-apiserver with deploy/base's namespaces, RBAC and admission policy. The agent
 * runs as gantry-agent with a token bound to its Node; every attack below uses everything that
 * node holds (its token, its seal key) and fails closed with its own reason: it reads no Secret
 * in gantry-system (the NATS servers' TLS key is there), and in gantry-nodes, the one namespace
 * whose Secrets it may get, only ciphertext sealed to another node's key. Also: the
 * documented migration of an older install's keys (docs/operations.md), run as written.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createCurve, type KeyPair } from '@nats-io/nkeys';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentLeaseName, annotations, instancePullCredsSecretName, providerInstanceCrd } from '../../api/index.js';
import { Heartbeat } from '../../agent/heartbeat.js';
import { instancePullSecrets } from '../../agent/pull-creds.js';
import { InstancePullCredentials } from '../../controller/credentials/pull.js';
import { MEMBRANE_KEYS_SECRET, membraneAuthorityFromSecret } from '../../controller/membrane.js';
import { MembraneAuthority } from '../../membrane/authority.js';
import { createPar, generateSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import { credentialsFor } from '../../registry/pull-secrets.js';
import { KubeClient } from '../../runtime/kube.js';
import { logger } from '../../runtime/log.js';
import {
  applyAgentAdmission,
  controlPlaneAvailable,
  nodeBoundAgent,
  realKubectl,
  startTestApiServer,
  type TestApiServer,
} from '../support/apiserver.js';
import { type RegistryServer, startRegistry } from '../support/registry.js';

const run = promisify(execFile);
const repo = join(import.meta.dirname, '..', '..');
const GS = 'gantry-system';
const KEYS_NS = 'gantry-membrane';
const CREDS = 'gantry-nodes';
const APP = 'apps';
const robot = { user: 'robot', password: 'pull-s3cret-for-b' };
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: { code?: number | string; message?: string; reason?: string }) => e,
  );
const secretPath = (ns: string, name?: string) => `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`;

describe.skipIf(!controlPlaneAvailable())('membrane keys and sealed pull credentials on the real API server', () => {
  let api: TestApiServer;
  let admin: KubeClient;
  let controller: KubeClient;
  let agentA: KubeClient; // gantry-agent, token bound to node-a
  let agentB: KubeClient; // gantry-agent, token bound to node-b
  let unbound: KubeClient;
  const keyA: KeyPair = createCurve();
  const keyB: KeyPair = createCurve();
  let registry: RegistryServer;
  let digest: string;
  let ref: string;
  const insts: Record<string, any> = {};

  beforeAll(async () => {
    api = await startTestApiServer({ ground: 'real' });
    admin = new KubeClient(api.kc);
    await applyAgentAdmission(api);
    await admin.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', providerInstanceCrd());
    await admin.create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: APP } });
    for (const n of ['node-a', 'node-b']) await admin.create('/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: n } });
    const bound = async (node: string) => new KubeClient((await nodeBoundAgent(api, node)).kc);
    agentA = await bound('node-a');
    agentB = await bound('node-b');
    unbound = new KubeClient((await api.identity('agent')).kc);
    controller = new KubeClient((await api.identity('controller')).kc);

    registry = await startRegistry({ basicAuth: { user: robot.user, password: robot.password } });
    ref = `${registry.host}/acme/private`;
    const bytes = await createPar({
      name: 'acme/private',
      vendor: 'gantry-test',
      capid: 'gantry:echo',
      version: '1.0.0',
      revision: 1,
      issuerSeed: generateSeed('account'),
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': new TextEncoder().encode('private') },
    });
    digest = (
      await openArchiveStore(ref, {
        plainHttpRegistries: [registry.host],
        credentials: { username: robot.user, password: robot.password },
      }).push(bytes)
    ).digest;

    for (const [name, node] of [
      ['on-a', 'node-a'],
      ['on-b', 'node-b'],
    ]) {
      for (let i = 0; ; i++) {
        try {
          insts[name] = await admin.create(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providerinstances`, {
            apiVersion: 'gantry.dev/v1alpha1',
            kind: 'ProviderInstance',
            metadata: { name, labels: { 'gantry.dev/provider': 'p', 'gantry.dev/node': node } },
            spec: {
              provider: 'p',
              nodeName: node,
              archive: { ref, digest, revision: 1, pullSecrets: [{ name: 'robot' }] },
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
  }, 180_000);
  afterAll(async () => {
    for (const c of [admin, controller, agentA, agentB, unbound]) c?.close();
    await registry?.stop();
    await api?.stop();
  });

  describe('the membrane keys', () => {
    const [, KEYS] = MEMBRANE_KEYS_SECRET.split('/');
    const original = MembraneAuthority.generate();
    const seedData = () =>
      Object.fromEntries(
        Object.entries({
          'operator.nk': original.seeds().operator,
          'system-account.nk': original.seeds().system,
          'gantry-account.nk': original.seeds().account,
        }).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      );

    it("an older install's keys move to gantry-membrane by the documented steps, the old copy is gone, and the controller reads them as itself", async () => {
      // the older install: the keys in gantry-system, where agents could read them
      await admin.create(secretPath(GS), { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: KEYS }, data: seedData() });
      // once readable by every agent; since agents read no Secret in gantry-system, not even before the move
      expect(await refusal(agentA.get(secretPath(GS, KEYS)))).toMatchObject({ code: 403, reason: 'Forbidden' });
      // the documented steps, as written, with the release's kubectl as `kubectl`
      const doc = readFileSync(join(repo, 'docs', 'operations.md'), 'utf8');
      const blocks = [...doc.matchAll(/```sh migrate-membrane-keys\n([\s\S]*?)```/g)].map((m) => m[1]);
      expect(blocks).toHaveLength(2);
      const bin = mkdtempSync(join(tmpdir(), 'gantry-kubectl-'));
      symlinkSync(realKubectl(), join(bin, 'kubectl'));
      const sh = (script: string) =>
        run('/bin/sh', ['-euc', script], {
          cwd: repo,
          env: { PATH: `${bin}:${process.env.PATH}`, KUBECONFIG: api.kubeconfigPath, HOME: bin },
          timeout: 60_000,
        });
      try {
        await sh(blocks[0]!);
        // the controller, as its own ServiceAccount, loads the very same keys from the new place
        const loaded = await membraneAuthorityFromSecret(controller, MEMBRANE_KEYS_SECRET);
        expect(loaded.seeds()).toEqual(original.seeds());
        await sh(blocks[1]!);
      } finally {
        rmSync(bin, { recursive: true, force: true });
      }
      expect(await refusal(admin.get(secretPath(GS, KEYS)))).toMatchObject({ code: 404 });
      expect((await membraneAuthorityFromSecret(controller, MEMBRANE_KEYS_SECRET)).operatorKey).toBe(original.operatorKey);
    }, 120_000);

    it('no agent token — bound to a node or not — may read the keys (403), and what the controller cannot read stops it with its own error', async () => {
      for (const agent of [agentA, agentB, unbound]) {
        const e = await refusal(agent.get(secretPath(KEYS_NS, KEYS)));
        expect(e).toMatchObject({ code: 403, reason: 'Forbidden' });
        expect(e?.message).toContain(`cannot get resource "secrets" in API group "" in the namespace "${KEYS_NS}"`);
        expect((await refusal(agent.list(secretPath(KEYS_NS))))?.message).toMatch(/forbidden/i);
        // nor list the Secrets of gantry-system to find any other that would mint an identity
        expect((await refusal(agent.list(secretPath(GS))))?.message).toMatch(/cannot list resource "secrets"/);
      }
      const missing = await refusal(membraneAuthorityFromSecret(controller, `${KEYS_NS}/no-such-keys`));
      expect(missing).toMatchObject({ code: 'KEYS_INVALID' });
      expect(missing?.message).toContain(`cannot read the membrane keys Secret ${KEYS_NS}/no-such-keys`);
      expect((await refusal(membraneAuthorityFromSecret(controller, 'gantry-membrane')))?.message).toContain('namespace/name');
    });
  });

  it("a node-bound agent token reads no Secret in gantry-system: not the NATS servers' TLS key (403), nor a pull credential an older controller left there", async () => {
    // gantry-nats-tls: with its key a node could pose as a NATS server or join the routes
    await admin.create(secretPath(GS), {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'gantry-nats-tls' },
      data: { 'tls.crt': Buffer.from('crt').toString('base64'), 'tls.key': Buffer.from('key').toString('base64') },
    });
    const legacy = instancePullCredsSecretName(APP, 'on-b');
    await admin.create(secretPath(GS), { apiVersion: 'v1', kind: 'Secret', metadata: { name: legacy }, data: {} });
    for (const agent of [agentA, agentB, unbound])
      for (const name of ['gantry-nats-tls', legacy]) {
        const e = await refusal(agent.get(secretPath(GS, name)));
        expect(e, `${GS}/${name}`).toMatchObject({ code: 403, reason: 'Forbidden' });
        expect(e?.message).toContain(`cannot get resource "secrets" in API group "" in the namespace "${GS}"`);
      }
    // the controller, which serves no pull credential from there any more, may remove the leftover
    await controller.delete(secretPath(GS, legacy));
    // and may not put one back
    const put = await refusal(controller.create(secretPath(GS), { apiVersion: 'v1', kind: 'Secret', metadata: { name: legacy } }));
    expect(put?.message).toContain(`cannot create resource "secrets" in API group "" in the namespace "${GS}"`);
  });

  describe('pull credentials sealed to their node', () => {
    const providerSecret = () => [
      {
        namespace: APP,
        name: 'robot',
        dockerConfig: JSON.stringify({
          auths: { [registry.host]: { auth: Buffer.from(`${robot.user}:${robot.password}`).toString('base64') } },
        }),
      },
    ];

    beforeAll(async () => {
      // each agent publishes its node's seal key on its own Lease, with its own bound token
      for (const [kube, node, key] of [
        [agentA, 'node-a', keyA],
        [agentB, 'node-b', keyB],
      ] as const) {
        const hb = new Heartbeat({
          kube,
          namespace: GS,
          node,
          target: 'x86_64-linux',
          sealKey: key.getPublicKey(),
          log: logger('test-agent'),
        });
        await hb.renew();
      }
      // the controller, as its own ServiceAccount, seals each instance's credential to its node's key
      const leaseKey = async (node: string) =>
        ((await controller.get(`/apis/coordination.k8s.io/v1/namespaces/${GS}/leases/${agentLeaseName(node)}`)) as any).metadata
          .annotations[annotations.nodeSealKey] as string;
      const keys = { 'node-a': await leaseKey('node-a'), 'node-b': await leaseKey('node-b') } as Record<string, string>;
      const writer = new InstancePullCredentials(controller, CREDS, logger('test-controller'), undefined, Date.now, (node) => keys[node]);
      for (const i of Object.values(insts)) await writer.ensure(i, { secrets: providerSecret() });
    });

    it('the right node opens its credential and pulls the private archive with it from a real registry', async () => {
      const secrets = await instancePullSecrets(agentB, CREDS, keyB, insts['on-b']);
      const credentials = credentialsFor(ref, secrets)!;
      expect(credentials).toEqual({ username: robot.user, password: robot.password });
      await openArchiveStore(ref, { plainHttpRegistries: [registry.host], credentials }).checkAccess(digest);
      // and without it the registry refuses: the credential is what lets the node pull
      const anon = await refusal(openArchiveStore(ref, { plainHttpRegistries: [registry.host] }).checkAccess(digest));
      expect(anon).toMatchObject({ code: 'AUTH_FAILED' });
    });

    it("node A, with its token and its seal key, reads node B's Secret but gets only ciphertext it cannot open (SEALED_FOR_ANOTHER_KEY)", async () => {
      const name = instancePullCredsSecretName(APP, 'on-b');
      const stolen = await agentA.get(secretPath(CREDS, name)); // RBAC cannot scope `get` by node: readable...
      const text = JSON.stringify(stolen);
      expect(text).not.toContain(robot.password);
      expect(text).not.toContain(Buffer.from(`${robot.user}:${robot.password}`).toString('base64'));
      // ... and useless: the agent's own reader refuses it with the seal's reason
      const e = await refusal(instancePullSecrets(agentA, CREDS, keyA, insts['on-b']));
      expect(e).toMatchObject({ reason: 'CredentialsPending' });
      expect(e?.message).toContain('SEALED_FOR_ANOTHER_KEY');
      expect(e?.message).toContain(keyB.getPublicKey());
      // relabelling the envelope with its own key does not open it either
      const env = JSON.parse(Buffer.from(stolen.data.sealed, 'base64').toString());
      const { openSealed } = await import('../../registry/sealed-credential.js');
      expect(() => openSealed(keyA, JSON.stringify({ ...env, recipient: keyA.getPublicKey() }))).toThrow(
        expect.objectContaining({ code: 'SEALED_UNOPENABLE' }),
      );
      // its own instance's credential it opens as usual
      expect(credentialsFor(ref, await instancePullSecrets(agentA, CREDS, keyA, insts['on-a']))).toEqual({
        username: robot.user,
        password: robot.password,
      });
    });

    it("node A cannot publish its key as node B's (the controller would seal B's credential to it): the admission policy refuses", async () => {
      const path = `/apis/coordination.k8s.io/v1/namespaces/${GS}/leases/${agentLeaseName('node-b')}`;
      const e = await refusal(agentA.mergePatch(path, { metadata: { annotations: { [annotations.nodeSealKey]: keyA.getPublicKey() } } }));
      expect(e?.message).toMatch(/denied request|ValidatingAdmissionPolicy/);
      expect((await admin.get(path)).metadata.annotations[annotations.nodeSealKey]).toBe(keyB.getPublicKey());
      // nor write the Secret with a credential sealed to itself
      const name = instancePullCredsSecretName(APP, 'on-b');
      const cur = await admin.get(secretPath(CREDS, name));
      expect((await refusal(agentA.replace(secretPath(CREDS, name), cur)))?.message).toMatch(/cannot update resource "secrets"/);
    });
  });
});
