/**
 * Trust only narrows, and a moved revision is an alarm (attacks from issue 10, controller side):
 * a Provider naming its author's own key never runs, an empty cluster policy trusts nothing,
 * and a `rev-N` tag re-pointed at other validly signed bytes leaves the verified digest serving.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createPar, generateSeed, publicKeyFromSeed } from '../../par/index.js';
import { DistributionClient, openArchiveStore } from '../../registry/index.js';
import { startController, type RunningController } from '../../controller/index.js';
import { startCluster, waitFor, NS, type Cluster } from './cluster.js';

const fastLeader = { leaseDurationMs: 2000, renewDeadlineMs: 1500, retryPeriodMs: 250 };
const resolvedCondition = (p: any) => p?.status?.conditions?.find((x: any) => x.type === 'Resolved');

describe('trust comes from cluster policy and can only be narrowed', () => {
  let c: Cluster;
  let ctl: RunningController;
  const attacker = generateSeed('account');
  const attackerKey = publicKeyFromSeed(attacker);

  beforeAll(async () => {
    c = await startCluster();
    await c.addNode('n1', 'amd64');
    await c.addNode('n2', 'amd64');
    await c.publish('acme/evil', { revision: 1, issuerSeed: attacker, targets: ['x86_64-linux'] });
    await c.publish('acme/good', { revision: 1, targets: ['x86_64-linux'] });
    await c.publish('acme/badcap', { revision: 1, capid: 'Acme KV/v2', targets: ['x86_64-linux'] });
    ctl = await startController({
      kubeConfig: c.api.kc,
      namespace: NS,
      trustedIssuers: [c.issuer],
      plainHttpRegistries: [c.registry.host],
      leaderElection: fastLeader,
    });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('a Provider that trusts only its own (attacker) key never runs, and the condition names the key', async () => {
    await c.applyProvider('evil', { archive: { ref: c.ref('acme/evil') }, replicas: 2, trust: { issuers: [attackerKey] } });
    const cond = await waitFor(
      'UntrustedIssuer',
      async () => resolvedCondition(await c.provider('evil'))?.reason === 'UntrustedIssuer' && resolvedCondition(await c.provider('evil')),
    );
    expect(cond.status).toBe('False');
    expect(cond.message).toContain(attackerKey);
    expect(cond.message).toMatch(/only narrow/);
    expect(cond.message).toMatch(/gantry-trust/);
    const events = await c.events('evil');
    expect(events.some((e) => e.type === 'Warning' && e.reason === 'UntrustedIssuer')).toBe(true);
    expect(await c.instances('evil')).toHaveLength(0);
  });

  it('adding a trusted key beside the attacker key is refused too, not silently narrowed', async () => {
    await c.applyProvider('mixed', { archive: { ref: c.ref('acme/good') }, replicas: 1, trust: { issuers: [c.issuer, attackerKey] } });
    const cond = await waitFor(
      'UntrustedIssuer',
      async () =>
        resolvedCondition(await c.provider('mixed'))?.reason === 'UntrustedIssuer' && resolvedCondition(await c.provider('mixed')),
    );
    expect(cond.message).toContain(attackerKey);
    expect(cond.message).not.toContain(`${c.issuer},`);
    expect(await c.instances('mixed')).toHaveLength(0);
  });

  it('narrowing to a key the cluster trusts works, and the instance carries the narrowed list', async () => {
    await c.applyProvider('good', { archive: { ref: c.ref('acme/good') }, replicas: 1, trust: { issuers: [c.issuer] } });
    const [inst] = await waitFor('placed', async () => {
      const l = await c.instances('good');
      return l.length === 1 && l;
    });
    expect(inst.spec.issuers).toEqual([c.issuer]);
    // the controller writes status after it creates instances: wait for it, do not race it
    const cond = await waitFor('Resolved', async () => resolvedCondition(await c.provider('good')));
    expect(cond).toMatchObject({ status: 'True', reason: 'Resolved' });
  });

  it('a capability id the API cannot hold is refused at resolve (InvalidArchive, saying why), before any instance create could fail', async () => {
    await c.applyProvider('badcap', { archive: { ref: c.ref('acme/badcap') }, replicas: 1 });
    const cond = await waitFor(
      'InvalidArchive',
      async () =>
        resolvedCondition(await c.provider('badcap'))?.reason === 'InvalidArchive' && resolvedCondition(await c.provider('badcap')),
    );
    expect(cond.message).toMatch(/"Acme KV\/v2".*not a valid capability id/);
    expect(await c.instances('badcap')).toHaveLength(0);
  });
});

describe('an empty cluster trust policy trusts nothing', () => {
  let c: Cluster;
  let ctl: RunningController;

  beforeAll(async () => {
    c = await startCluster();
    await c.addNode('n1', 'amd64');
    await c.publish('acme/kv', { revision: 1, targets: ['x86_64-linux'] });
    ctl = await startController({
      kubeConfig: c.api.kc,
      namespace: NS,
      trustedIssuers: [],
      plainHttpRegistries: [c.registry.host],
      leaderElection: fastLeader,
    });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('a validly signed archive is refused with a message that says how to configure trust', async () => {
    await c.applyProvider('kv', { archive: { ref: c.ref('acme/kv') }, replicas: 1 });
    const cond = await waitFor(
      'UntrustedIssuer',
      async () => resolvedCondition(await c.provider('kv'))?.reason === 'UntrustedIssuer' && resolvedCondition(await c.provider('kv')),
    );
    expect(cond.message).toMatch(/no trusted issuers/);
    expect(cond.message).toMatch(/--trust-issuer/);
    // the Provider cannot lift it by naming the signer itself
    await c.patchProvider('kv', { trust: { issuers: [c.issuer] } });
    await waitFor('observed', async () => resolvedCondition(await c.provider('kv'))?.observedGeneration === 2);
    expect(resolvedCondition(await c.provider('kv'))).toMatchObject({ status: 'False', reason: 'UntrustedIssuer' });
    expect(await c.instances('kv')).toHaveLength(0);
  });
});

describe('a moved revision is an alarm, not a rollout', () => {
  let c: Cluster;
  let ctl: RunningController;

  beforeAll(async () => {
    c = await startCluster();
    await c.addNode('n1', 'amd64');
    await c.addNode('n2', 'amd64');
    // the registry is asked again on each resync once the cached digest is older than
    // revisionRecheckMs; short ones keep the test short
    ctl = await startController({
      kubeConfig: c.api.kc,
      namespace: NS,
      trustedIssuers: [c.issuer],
      plainHttpRegistries: [c.registry.host],
      leaderElection: fastLeader,
      revisionRecheckMs: 300,
      resyncMs: 500,
    });
  }, 60_000);
  afterAll(async () => {
    await ctl?.stop();
    await c?.stop();
  });

  it('re-pointing rev-1 at other validly signed bytes sets RevisionMoved with both digests and keeps the old digest serving', async () => {
    const original = await c.publish('acme/moved', { revision: 1, targets: ['x86_64-linux'] });
    await c.applyProvider('moved', { archive: { ref: c.ref('acme/moved'), revision: 1 }, replicas: 2 });
    await waitFor('2 instances', async () => (await c.instances('moved')).length === 2);
    expect(await c.markRunning('moved')).toBe(2);

    // The attacker publishes other bytes, signed by the same trusted issuer as revision 1, in
    // another repository, then moves the rev-1 tag of the served repository onto them.
    const other = await createPar({
      name: 'kv',
      vendor: 'acme',
      capid: 'wascap:keyvalue',
      version: '1.0.0',
      revision: 1,
      issuerSeed: c.issuerSeed,
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': new TextEncoder().encode('the attacker binary') },
    });
    const shadowDigest = (await openArchiveStore(c.ref('acme/shadow'), { plainHttpRegistries: [c.registry.host] }).push(other)).digest;
    const shadow = new DistributionClient(c.registry.host, 'acme/shadow', { plainHttpHosts: [c.registry.host] });
    const served = new DistributionClient(c.registry.host, 'acme/moved', { plainHttpHosts: [c.registry.host] });
    const m = (await shadow.getManifest(shadowDigest))!;
    const manifest = JSON.parse(new TextDecoder().decode(m.bytes));
    for (const d of [manifest.config.digest, ...manifest.layers.map((l: any) => l.digest)])
      await served.putBlob(d, await shadow.getBlob(d));
    expect(await served.putManifest('rev-1', m.bytes, m.mediaType ?? manifest.mediaType)).toBe(shadowDigest);
    expect(shadowDigest).not.toBe(original);

    const cond = await waitFor(
      'RevisionMoved',
      async () => resolvedCondition(await c.provider('moved'))?.reason === 'RevisionMoved' && resolvedCondition(await c.provider('moved')),
      10_000,
    );
    expect(cond.status).toBe('False');
    expect(cond.message).toContain(original);
    expect(cond.message).toContain(shadowDigest);
    expect(cond.message).toMatch(/Still serving revision 1/);
    const p = await c.provider('moved');
    expect(p.status.resolved.digest).toBe(original);
    const events = await c.events('moved');
    expect(events.some((e) => e.type === 'Warning' && e.reason === 'RevisionMoved')).toBe(true);
    expect(events.some((e) => e.type === 'Normal' && e.reason === 'Resolved' && e.message.includes(shadowDigest))).toBe(false);
    // a few more rechecks later the same two instances still run the verified digest
    await new Promise((r) => setTimeout(r, 1500));
    expect(resolvedCondition(await c.provider('moved'))?.reason).toBe('RevisionMoved');
    const l = await c.instances('moved');
    expect(l.map((i) => i.spec.archive.digest)).toEqual([original, original]);
  }, 45_000);
});
