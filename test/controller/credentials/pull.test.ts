/**
 * Per-instance pull credentials (controller/instance-pull-creds.ts): the controller, running as
 * deploy/'s gantry-controller on the real API server, writes each instance's credential into
 * gantry-nodes reduced to the archive's registry, rewrites it when the Provider's pull secret
 * is rotated (same instance, same uid), and deletes it with the instance. The Secret holds it
 * sealed to the seal key the instance's node published on its Lease, never in clear. Those an
 * older controller left in gantry-system, where agents no longer read, its sweep deletes.
 */
import { createCurve } from '@nats-io/nkeys';
import { annotations } from '../../../api/common.js';
import { openSealed } from '../../../registry/sealed-credential.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startController, type RunningController } from '../../../controller/index.js';
import { agentLeaseName, instancePullCredsSecretName } from '../../../api/index.js';
import { isNotFound } from '../../../runtime/kube.js';
import { APP, CREDENTIALS_NS as CREDS, fastLeader, NS, startCluster, waitFor, type Cluster } from '../cluster.js';
import { InstancePullCredentials, registryPullTokenMinter, PULL_TOKEN_EXPIRES_ANNOTATION } from '../../../controller/credentials/pull.js';
import { createPar, generateSeed } from '../../../par/index.js';
import { openArchiveStore } from '../../../registry/index.js';
import { credentialsFor } from '../../../registry/pull-secrets.js';
import { logger } from '../../../runtime/log.js';
import { startRegistry, startTokenServer, type RegistryServer, type TokenServer } from '../../support/registry.js';

describe('instance pull credentials', () => {
  let c: Cluster;
  let ctl: RunningController;
  const docker = (password: string, host: string) =>
    Buffer.from(
      JSON.stringify({
        auths: {
          [host]: { auth: Buffer.from(`robot:${password}`).toString('base64') },
          'elsewhere.example:5000': { auth: Buffer.from('other:keep-out').toString('base64') },
        },
      }),
    ).toString('base64');
  // node n1's seal key, as its agent would publish it
  const n1 = createCurve();
  const opened = (s: any) => (s.data?.sealed ? JSON.parse(openSealed(n1, Buffer.from(s.data.sealed, 'base64').toString())) : undefined);
  const held = async (instName: string) => {
    try {
      const s = await c.client.get(`/api/v1/namespaces/${CREDS}/secrets/${instancePullCredsSecretName(APP, instName)}`);
      return { secret: s, config: opened(s) };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };

  beforeAll(async () => {
    c = await startCluster();
    await c.publish('acme/creds', { revision: 1, targets: ['x86_64-linux'] });
    await c.addNode('n1', 'amd64');
    await c.client.mergePatch(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${agentLeaseName('n1')}`, {
      metadata: { annotations: { [annotations.nodeSealKey]: n1.getPublicKey() } },
    });
    ctl = await startController({
      kubeConfig: c.controllerKc,
      namespace: NS,
      trustedIssuers: [c.issuer],
      plainHttpRegistries: [c.registry.host],
      leaderElection: fastLeader,
      resyncMs: 500,
      pullSecretTtlMs: 300,
    });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('writes the narrowed credential, rewrites it on rotation, reports a missing secret, and deletes it with the instance', async () => {
    await c.client.create(`/api/v1/namespaces/${APP}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'robot' },
      data: { '.dockerconfigjson': docker('first', c.registry.host) },
    });
    await c.applyProvider('creds', { archive: { ref: c.ref('acme/creds'), pullSecrets: [{ name: 'robot' }] }, replicas: 1 });
    const [inst] = await waitFor(
      'one instance',
      async () => {
        const l = await c.instances('creds');
        return l.length === 1 && l;
      },
      30_000,
    );
    const first = await waitFor('its credential', () => held(inst.metadata.name), 15_000);
    // one registry, the archive's: the other entry of the Provider's secret never reaches the node
    expect(first.config).toEqual({ auths: { [c.registry.host]: { username: 'robot', password: 'first' } } });
    expect(first.secret.type).toBe('gantry.dev/sealed-pull-credential');
    expect(JSON.stringify(first.secret)).not.toContain(Buffer.from('robot:first').toString('base64'));
    expect(first.secret.metadata.annotations['gantry.dev/pull-sealed-for']).toBe(`n1 ${n1.getPublicKey()}`);
    expect(first.secret.metadata.labels).toMatchObject({
      'gantry.dev/instance-pull-creds': 'true',
      'gantry.dev/instance-namespace': APP,
      'gantry.dev/instance-name': inst.metadata.name,
      'gantry.dev/instance-uid': inst.metadata.uid,
    });

    // rotation reaches the same instance's credential, no new instance
    const cur = await c.client.get(`/api/v1/namespaces/${APP}/secrets/robot`);
    await c.client.replace(`/api/v1/namespaces/${APP}/secrets/robot`, {
      ...cur,
      data: { '.dockerconfigjson': docker('second', c.registry.host) },
    });
    await waitFor(
      'the rotated credential',
      async () => (await held(inst.metadata.name))?.config.auths[c.registry.host]?.password === 'second',
      15_000,
    );
    expect((await c.instances('creds')).map((i) => i.metadata.uid)).toEqual([inst.metadata.uid]);

    // the Provider's secret gone: the refusal is what the agent gets, never a stale credential
    await c.client.delete(`/api/v1/namespaces/${APP}/secrets/robot`);
    const refused = await waitFor(
      'the refusal',
      async () => {
        const h = await held(inst.metadata.name);
        return h?.secret.metadata.annotations?.['gantry.dev/pull-secret-error'] && h;
      },
      15_000,
    );
    expect(refused.secret.metadata.annotations['gantry.dev/pull-secret-error']).toMatch(/^PULL_SECRET_MISSING: .*robot/);
    expect(refused.secret.data).toBeUndefined();

    // the instance gone (its Provider deleted): its credential is deleted too
    await c.client.delete(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers/creds`);
    await waitFor('instance gone', async () => (await c.instances('creds')).length === 0 || undefined, 30_000);
    await waitFor('credential deleted', async () => (await held(inst.metadata.name)) === undefined || undefined, 15_000);
  }, 90_000);

  it("deletes the pull credentials an older controller left in gantry-system (agents read no Secret there), and nothing else of that namespace's", async () => {
    const secret = (name: string, labels: Record<string, string>) =>
      c.client.create(`/api/v1/namespaces/${NS}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, labels },
        data: { '.dockerconfigjson': docker('legacy', c.registry.host) },
      });
    // as the previous release wrote them: same name and labels, in the Gantry namespace, for a live-looking instance
    const legacy = instancePullCredsSecretName(APP, 'legacy-0');
    await secret(legacy, {
      'gantry.dev/instance-pull-creds': 'true',
      'gantry.dev/instance-namespace': APP,
      'gantry.dev/instance-name': 'legacy-0',
      'gantry.dev/instance-uid': 'uid-legacy-0',
    });
    await secret('operator-owned', { 'app.kubernetes.io/part-of': 'gantry' });
    const exists = (name: string) =>
      c.client.get(`/api/v1/namespaces/${NS}/secrets/${name}`).then(
        () => true,
        (err) => {
          if (isNotFound(err)) return false;
          throw err;
        },
      );
    await waitFor('the legacy pull credential swept', async () => !(await exists(legacy)) || undefined, 15_000);
    expect(await exists('operator-owned')).toBe(true);
    await c.client.delete(`/api/v1/namespaces/${NS}/secrets/operator-owned`);
  }, 30_000);

  describe('with a token-auth registry', () => {
    let tokens: TokenServer;
    let reg: RegistryServer;
    const robot = { username: 'robot', password: 'tok3n' };
    const digests: Record<string, string> = {};
    beforeAll(async () => {
      // these tests drive InstancePullCredentials for instances that exist only in the test; a
      // running controller's sweep would delete their Secrets as credentials of gone instances
      // (it did, once, between a write and its refresh on a loaded machine)
      await ctl.stop();
      tokens = await startTokenServer({ [robot.username]: robot.password });
      reg = await startRegistry({
        token: { realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootCertBundle: tokens.rootCertBundle },
      });
      for (const repo of ['acme/mine', 'acme/theirs']) {
        const bytes = await createPar({
          name: repo,
          vendor: 'gantry-test',
          capid: 'gantry:echo',
          version: '1.0.0',
          revision: 1,
          issuerSeed: c.issuerSeed,
          subjectSeed: generateSeed('service'),
          binaries: { 'x86_64-linux': new TextEncoder().encode(repo) },
        });
        digests[repo] = (
          await openArchiveStore(`${reg.host}/${repo}`, { plainHttpRegistries: [reg.host, tokens.host], credentials: robot }).push(bytes)
        ).digest;
      }
    }, 60_000);
    afterAll(async () => {
      await reg?.stop();
      await tokens?.stop();
    });

    it('hands the instance a token for its own repository only, never the password, and mints it again at half its life', async () => {
      let now = Date.now();
      const creds = new InstancePullCredentials(
        c.client,
        CREDS,
        logger('test'),
        registryPullTokenMinter({ plainHttpRegistries: [reg.host, tokens.host] }),
        () => now,
        (node) => (node === 'n1' ? n1.getPublicKey() : undefined),
      );
      const ref = `${reg.host}/acme/mine`;
      const inst: any = {
        metadata: { namespace: APP, name: 'tok-0', uid: 'uid-tok-0' },
        spec: { nodeName: 'n1', archive: { ref, digest: digests['acme/mine'], pullSecrets: [{ name: 'robot' }] } },
      };
      const asOpened = (s: any) => [{ namespace: CREDS, name: s.metadata.name, dockerConfig: JSON.stringify(opened(s)) }];
      const secrets = [
        {
          namespace: APP,
          name: 'robot',
          dockerConfig: JSON.stringify({
            auths: { [reg.host]: { auth: Buffer.from(`${robot.username}:${robot.password}`).toString('base64') } },
          }),
        },
      ];
      const again = await creds.ensure(inst, { secrets });
      expect(again).toBe(150_000); // the test token server's tokens live 300 s
      const path = `/api/v1/namespaces/${CREDS}/secrets/${instancePullCredsSecretName(APP, 'tok-0')}`;
      const s1 = await c.client.get(path);
      const doc = JSON.stringify(opened(s1));
      expect(doc).not.toContain(robot.password);
      expect(doc).not.toContain(Buffer.from(`${robot.username}:${robot.password}`).toString('base64'));
      const held = credentialsFor(ref, asOpened(s1))!;
      expect(Object.keys(held)).toEqual(['registryToken']);
      expect(Date.parse(s1.metadata.annotations[PULL_TOKEN_EXPIRES_ANNOTATION])).toBe(now + 300_000);

      // the token reads its repository (what the agent's access check does) ...
      await openArchiveStore(ref, { plainHttpRegistries: [reg.host, tokens.host], credentials: held }).checkAccess(digests['acme/mine']);
      // ... and nothing else on that registry, which the robot's password could
      const other = await openArchiveStore(`${reg.host}/acme/theirs`, { plainHttpRegistries: [reg.host, tokens.host], credentials: held })
        .checkAccess(digests['acme/theirs'])
        .then(
          () => undefined,
          (e) => e,
        );
      expect(other?.code).toBe('AUTH_FAILED');
      await openArchiveStore(`${reg.host}/acme/theirs`, { plainHttpRegistries: [reg.host, tokens.host], credentials: robot }).checkAccess(
        digests['acme/theirs'],
      );

      // while fresh: no new token, no write
      const asked = tokens.requests;
      expect(await creds.ensure(inst, { secrets })).toBe(150_000);
      expect(tokens.requests).toBe(asked);
      // at half its life: a new token, written to the same Secret
      now += 150_000;
      await creds.ensure(inst, { secrets });
      expect(tokens.requests).toBe(asked + 1);
      const s2 = await c.client.get(path);
      expect(Date.parse(s2.metadata.annotations[PULL_TOKEN_EXPIRES_ANNOTATION])).toBe(now + 300_000);

      // a credential the token service refuses: the narrowed credential is written (the agent
      // then reports RegistryUnauthorized itself), and minting is tried again in 30 s
      const wrong = [
        {
          ...secrets[0],
          dockerConfig: JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${robot.username}:nope`).toString('base64') } } }),
        },
      ];
      expect(await creds.ensure(inst, { secrets: wrong })).toBe(30_000);
      const s3 = await c.client.get(path);
      expect(credentialsFor(ref, asOpened(s3))).toEqual({ username: robot.username, password: 'nope' });
      expect(JSON.stringify(s3)).not.toContain(Buffer.from(`${robot.username}:nope`).toString('base64'));
      expect(s3.metadata.annotations?.[PULL_TOKEN_EXPIRES_ANNOTATION]).toBeUndefined();
      await c.client.delete(path);
    });

    it('an instance on a node without a seal key gets no credential, only why it waits, and is looked at again in 5 s', async () => {
      const creds = new InstancePullCredentials(c.client, CREDS, logger('test'), undefined, Date.now, () => undefined);
      const inst: any = {
        metadata: { namespace: APP, name: 'keyless-0', uid: 'uid-keyless-0' },
        spec: { nodeName: 'n9', archive: { ref: `${reg.host}/acme/mine`, digest: digests['acme/mine'], pullSecrets: [{ name: 'robot' }] } },
      };
      const secrets = [
        {
          namespace: APP,
          name: 'robot',
          dockerConfig: JSON.stringify({ auths: { [reg.host]: { username: 'robot', password: robot.password } } }),
        },
      ];
      expect(await creds.ensure(inst, { secrets })).toBe(5_000);
      const path = `/api/v1/namespaces/${CREDS}/secrets/${instancePullCredsSecretName(APP, 'keyless-0')}`;
      const s = await c.client.get(path);
      expect(s.data).toBeUndefined();
      expect(JSON.stringify(s)).not.toContain(robot.password);
      expect(s.metadata.annotations['gantry.dev/pull-credential-pending']).toMatch(
        /^SEAL_KEY_MISSING: node n9's agent has not published its seal key/,
      );
      await c.client.delete(path);
    });
  });
});
