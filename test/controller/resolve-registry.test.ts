import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import { startController, registryResolver, type RunningController } from '../../controller/index.js';
import { startRegistry, type RegistryServer } from '../support/registry.js';
import { startCluster, waitFor, NS, type Cluster } from './cluster.js';

const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };

describe('resolving real signed archives from a real registry', () => {
  let reg: RegistryServer;
  let priv: RegistryServer;
  let tamperedLayer = '';
  let c: Cluster;
  let ctl: RunningController;
  const trusted = generateSeed('account');
  const stranger = generateSeed('account');
  const service = generateSeed('service');
  let ref: string;

  async function push(
    revision: number,
    issuerSeed: string,
    capid: string,
    targets: string[],
    at = ref,
    host = reg.host,
    credentials?: { username: string; password: string },
  ) {
    const binaries: Record<string, Uint8Array> = {};
    for (const t of targets) binaries[t] = new TextEncoder().encode(`binary for ${t} rev ${revision}`);
    const bytes = await createPar({
      name: 'kv',
      vendor: 'acme',
      capid,
      version: `1.${revision}.0`,
      revision,
      issuerSeed,
      subjectSeed: service,
      binaries,
    });
    await openArchiveStore(at, { plainHttpRegistries: [host], credentials: credentials as any }).push(bytes);
    return bytes;
  }

  beforeAll(async () => {
    c = await startCluster();
    reg = c.registry;
    ref = `${reg.host}/acme/kv`;
    await push(1, trusted, 'wascap:keyvalue', ['x86_64-linux', 'aarch64-linux']);
    await push(2, stranger, 'wascap:keyvalue', ['x86_64-linux']);
    await push(3, trusted, 'wascap:messaging', ['x86_64-linux']);
    // revision 4: its archive blob is altered in the registry's storage after the push
    const b4 = await push(4, trusted, 'wascap:keyvalue', ['x86_64-linux']);
    const hex = createHash('sha256').update(b4).digest('hex');
    tamperedLayer = join(reg.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const altered = Buffer.from(readFileSync(tamperedLayer));
    altered[altered.length - 30] ^= 0xff;
    writeFileSync(tamperedLayer, altered);
    priv = await startRegistry({ basicAuth: { user: 'robot', password: 's3cret' } });
    await push(1, trusted, 'wascap:keyvalue', ['x86_64-linux'], `${priv.host}/acme/private`, priv.host, {
      username: 'robot',
      password: 's3cret',
    });
    await c.addNode('amd', 'amd64');
    await c.addNode('arm', 'arm64');
    await c.addNode('win', 'amd64', 'windows');
    ctl = await startController({
      kubeConfig: c.controllerKc,
      namespace: NS,
      trustedIssuers: [publicKeyFromSeed(trusted)],
      plainHttpRegistries: [reg.host, priv.host],
      leaderElection: fastLeader,
    });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
    await priv?.stop();
  });

  it('resolves the highest revision, verifies it, and places it on the targets it carries', async () => {
    await c.applyProvider('kv', { archive: { ref }, replicas: 3, capabilityId: 'wascap:keyvalue' });
    const p = await waitFor('resolved', async () => {
      const p = await c.provider('kv');
      return p.status?.conditions?.find((x: any) => x.type === 'Resolved') && p;
    });
    // the highest published revision (4) was altered in the registry after its push
    expect(p.status.conditions.find((x: any) => x.type === 'Resolved')).toMatchObject({ status: 'False', reason: 'SignatureInvalid' });
    expect(p.status.resolved).toBeUndefined();
    expect(await c.instances('kv')).toHaveLength(0);
    // revision 3 carries the wrong capability id
    await c.patchProvider('kv', { archive: { ref, revision: 3 } });
    await waitFor(
      'CapabilityMismatch',
      async () => (await c.provider('kv')).status?.conditions?.find((x: any) => x.type === 'Resolved')?.reason === 'CapabilityMismatch',
    );
    await c.patchProvider('kv', { archive: { ref, revision: 1 } });
    const l = await waitFor('2 instances', async () => {
      const l = await c.instances('kv');
      return l.length === 2 && l;
    });
    expect(l.map((i) => `${i.spec.nodeName}:${i.spec.target}`).sort()).toEqual(['amd:x86_64-linux', 'arm:aarch64-linux']);
    // the reconcile writes status after it creates instances: seeing the instances does not
    // mean the status write has landed (on the real API server it often has not yet)
    const q = await waitFor('status.resolved revision 1', async () => {
      const q = await c.provider('kv');
      return q.status?.resolved?.revision === 1 && q;
    });
    expect(q.status.resolved).toMatchObject({
      revision: 1,
      capid: 'wascap:keyvalue',
      issuer: publicKeyFromSeed(trusted),
      version: '1.1.0',
      targets: ['aarch64-linux', 'x86_64-linux'],
    });
    expect(l[0].spec.archive.digest).toBe(q.status.resolved.digest);
  });

  it('refuses an untrusted issuer, a missing revision and an altered archive, keeping revision 1 serving', async () => {
    for (const [revision, reason] of [
      [2, 'UntrustedIssuer'],
      [7, 'RevisionNotFound'],
      [4, 'SignatureInvalid'],
    ] as const) {
      await c.patchProvider('kv', { archive: { ref, revision } });
      const p = await waitFor(reason, async () => {
        const p = await c.provider('kv');
        const r = p.status?.conditions?.find((x: any) => x.type === 'Resolved');
        return r?.reason === reason && p;
      });
      expect(p.status.conditions.find((x: any) => x.type === 'Resolved').status).toBe('False');
      expect(p.status.resolved.revision).toBe(1);
      // both serving instances stay (an empty list would pass an every() alone)
      expect((await c.instances('kv')).map((i) => i.spec.archive.revision)).toEqual([1, 1]);
    }
  });

  it('uses dockerconfigjson pull secrets for a private registry, and says when one is missing', async () => {
    const privRef = `${priv.host}/acme/private`;
    await c.applyProvider('private', { archive: { ref: privRef, pullSecrets: [{ name: 'robot-creds' }] }, replicas: 1 });
    await waitFor(
      'PullSecretMissing',
      async () => (await c.provider('private')).status?.conditions?.find((x: any) => x.type === 'Resolved')?.reason === 'PullSecretMissing',
    );
    const dockerconfig = JSON.stringify({ auths: { [priv.host]: { auth: Buffer.from('robot:s3cret').toString('base64') } } });
    await c.client.create('/api/v1/namespaces/apps/secrets', {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/dockerconfigjson',
      metadata: { name: 'robot-creds' },
      data: { '.dockerconfigjson': Buffer.from(dockerconfig).toString('base64') },
    });
    await waitFor('private placed', async () => (await c.instances('private')).length === 1, 30_000);
    const i = (await c.instances('private'))[0];
    expect(i.spec.archive.pullSecrets).toEqual([{ name: 'robot-creds' }]);
  }, 45_000);

  it('registryResolver maps an unreachable registry to a transient RegistryUnavailable', async () => {
    const r = registryResolver({ plainHttpRegistries: ['127.0.0.1:9'], timeoutMs: 2000 });
    const err = await r.resolve({ ref: '127.0.0.1:9/acme/kv', trustedIssuers: [publicKeyFromSeed(trusted)] }).catch((e) => e);
    const { failureFromError } = await import('../../controller/providers/archive/resolver.js');
    const f = failureFromError(err, '127.0.0.1:9/acme/kv');
    expect(f.reason).toBe('RegistryUnavailable');
    expect(f.transient).toBe(true);
  });
});
