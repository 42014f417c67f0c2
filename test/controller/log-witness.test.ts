/**
 * The controller as a log witness (controller/log-witness.ts) on real parts — docker-registry,
 * the API emulator (or the real API server), the real controller: a fork, a rollback across a
 * controller restart, a re-pointed tag and a checkpoint with a bad signature each give
 * Resolved=False LogInconsistent with the evidence code, a Warning event, and the old digest
 * still serving; a required log that is absent is LogMissing; the accepted checkpoint is kept
 * in status.log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPar, generateSeed } from '../../par/index.js';
import { openArchiveStore } from '../../registry/index.js';
import type { RunningController } from '../../controller/index.js';
import { generateNoteKey } from '../../tlog/index.js';
import { startCluster, startClusterController, stopAll, waitFor, type Cluster } from './cluster.js';
import { clientOf, entryOf, forgeCheckpoint, forkAt, logRevision, repointTag, rollbackTo, signerOf } from '../federation/log-attacks.js';
import { mirrorRepository } from '../../registry/index.js';
import { parseNamespaceMap } from '../../registry/namespaces.js';

const resolvedCondition = (p: any) => p?.status?.conditions?.find((x: any) => x.type === 'Resolved');
const fast = { revisionRecheckMs: 200, latestRecheckMs: 200, resyncMs: 400, logRecheckMs: 100 };

describe('the controller checks resolved revisions against their log', () => {
  let c: Cluster;
  let ctl: RunningController | undefined;
  const key = generateNoteKey('gantry-test-log');
  const signer = signerOf(key.signerKey);
  const host = () => c.registry.host;

  const publishLogged = async (repo: string, revision: number) => {
    const digest = await c.publish(repo, { revision, targets: ['x86_64-linux'] });
    await logRevision(host(), repo, revision, signer);
    return digest;
  };
  const start = async () => (ctl = await startClusterController(c, { logKeys: [`${host()}=${key.verifierKey}`], ...fast }));
  /** The Resolved condition once it has `reason` (and a message matching `evidence`: an attack seen half-done may first show other evidence). */
  const condition = (name: string, reason: string, evidence?: RegExp) =>
    waitFor(
      `${reason} ${evidence ?? ''}`,
      async () => {
        const cond = resolvedCondition(await c.provider(name));
        return cond?.reason === reason && (!evidence || evidence.test(cond.message)) && cond;
      },
      20_000,
    );
  /** Applies a Provider, waits for its instance, marks it Running; returns the served digest. */
  const running = async (name: string, spec: Record<string, unknown>) => {
    await c.heartbeat('n1'); // the agent Lease stays fresh however long the file has run
    await c.applyProvider(name, { ...spec, replicas: 1 });
    await waitFor('placed', async () => (await c.instances(name)).length === 1);
    expect(await c.markRunning(name)).toBe(1);
    return waitFor('status.log', async () => (await c.provider(name))?.status?.log && (await c.provider(name)));
  };
  const stillServing = async (name: string, digest: string) => {
    expect((await c.provider(name)).status.resolved.digest).toBe(digest);
    expect((await c.instances(name)).map((i) => i.spec.archive.digest)).toEqual([digest]);
    const events = await c.events(name);
    expect(events.some((e) => e.type === 'Warning' && e.reason === 'LogInconsistent')).toBe(true);
  };

  beforeAll(async () => {
    c = await startCluster();
    await c.addNode('n1', 'amd64');
    await start();
  }, 60_000);
  afterAll(() => stopAll(ctl, c));

  it('a logged revision resolves and status.log remembers the checkpoint that included it', async () => {
    await publishLogged('log/ok', 1);
    const d2 = await publishLogged('log/ok', 2);
    const p = await running('ok', { archive: { ref: c.ref('log/ok') } });
    expect(p.status.resolved.digest).toBe(d2);
    expect(p.status.log).toMatchObject({
      origin: c.ref('log/ok'),
      size: 2,
      revisionIndex: 1,
      rootHash: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/),
    });
    expect(p.status.log.checkpoint).toMatch(new RegExp(`^${c.ref('log/ok').replace(/[./]/g, '\\$&')}\\n2\\n`));
    expect(resolvedCondition(p).message).toMatch(/in log .* at index 1 \(checkpoint of size 2\)/);
  });

  it('a fork (history rewritten and re-signed) is LogInconsistent TLOG_FORK; the old digest keeps serving', async () => {
    await publishLogged('log/fork', 1);
    const d2 = await publishLogged('log/fork', 2);
    await running('fork', { archive: { ref: c.ref('log/fork'), revision: 2 } });
    // the key holder shows a different history: revision 2 is other bytes, signed by the same issuer
    const other = await createPar({
      name: 'fork',
      vendor: 'gantry-test',
      version: '1.2.0',
      revision: 2,
      issuerSeed: c.issuerSeed,
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': new TextEncoder().encode('forked') },
    });
    const otherDigest = (await openArchiveStore(c.ref('log/shadow'), { plainHttpRegistries: [host()] }).push(other)).digest;
    await repointTag(host(), 'log/fork', 'rev-2', otherDigest, 'log/shadow');
    await forkAt(host(), 'log/fork', 1, { ...(await entryOf(host(), 'log/shadow', 2)) }, signer);
    const cond = await condition('fork', 'LogInconsistent', /TLOG_FORK/);
    expect(cond.status).toBe('False');
    expect(cond.message).toMatch(/TLOG_FORK/);
    expect(cond.message).toMatch(/Still serving revision 2/);
    await stillServing('fork', d2);
  });

  it('a re-pointed tag that disagrees with its log entry is LogInconsistent TLOG_TAG_MISMATCH naming both digests', async () => {
    const d1 = await publishLogged('log/moved', 1);
    await running('moved', { archive: { ref: c.ref('log/moved'), revision: 1 } });
    const other = await createPar({
      name: 'moved',
      vendor: 'gantry-test',
      version: '1.1.0',
      revision: 1,
      issuerSeed: c.issuerSeed,
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': new TextEncoder().encode('attacker') },
    });
    const otherDigest = (await openArchiveStore(c.ref('log/shadow2'), { plainHttpRegistries: [host()] }).push(other)).digest;
    await repointTag(host(), 'log/moved', 'rev-1', otherDigest, 'log/shadow2');
    const cond = await condition('moved', 'LogInconsistent');
    expect(cond.message).toMatch(/TLOG_TAG_MISMATCH/);
    expect(cond.message).toContain(d1);
    expect(cond.message).toContain(otherDigest);
    await stillServing('moved', d1);
  });

  it('a checkpoint with a bad signature is LogInconsistent TLOG_NOTE_BAD_SIGNATURE', async () => {
    const d1 = await publishLogged('log/forged', 1);
    await running('forged', { archive: { ref: c.ref('log/forged') } });
    await forgeCheckpoint(host(), 'log/forged');
    const cond = await condition('forged', 'LogInconsistent');
    expect(cond.message).toMatch(/TLOG_NOTE_BAD_SIGNATURE/);
    await stillServing('forged', d1);
  });

  it('a rollback while the controller is down is caught by the restarted controller from status.log (TLOG_ROLLBACK)', async () => {
    await publishLogged('log/rollback', 1);
    await publishLogged('log/rollback', 2);
    const d3 = await publishLogged('log/rollback', 3);
    const p = await running('rollback', { archive: { ref: c.ref('log/rollback'), revision: 1 } });
    await c.patchProvider('rollback', { archive: { ref: c.ref('log/rollback'), revision: 3 } });
    await waitFor('revision 3 accepted', async () => (await c.provider('rollback'))?.status?.resolved?.digest === d3);
    expect((await c.provider('rollback')).status.log.size).toBe(3);
    expect(p.status.log.size).toBe(3);
    await c.markRunning('rollback');
    await ctl!.stop();
    ctl = undefined;
    await rollbackTo(host(), 'log/rollback', 2);
    // the new controller has no memory of its own: only status.log
    await start();
    const cond = await condition('rollback', 'LogInconsistent', /TLOG_ROLLBACK/);
    expect(cond.message).toMatch(/TLOG_ROLLBACK/);
    expect(cond.message).toMatch(/fewer than the 3/);
    await stillServing('rollback', d3);
    const metrics = await ctl!.metrics.registry.metrics();
    expect(metrics).toMatch(/gantry_log_inconsistencies_total\{code="TLOG_ROLLBACK"\} [1-9]/);
  });

  it('following the highest revision, a newer tag not yet logged (a push in flight) is not offered; named explicitly it is TLOG_UNLOGGED_REVISION', async () => {
    const d1 = await publishLogged('log/inflight', 1);
    const p = await running('inflight', { archive: { ref: c.ref('log/inflight') } });
    expect(p.status.resolved.digest).toBe(d1);
    await c.publish('log/inflight', { revision: 2, targets: ['x86_64-linux'] }); // tagged, never logged
    await new Promise((r) => setTimeout(r, 1500)); // several rechecks (latestRecheckMs 200, resync 400)
    expect(resolvedCondition(await c.provider('inflight'))).toMatchObject({ status: 'True', reason: 'Resolved' });
    expect((await c.provider('inflight')).status.resolved.digest).toBe(d1);
    await c.patchProvider('inflight', { archive: { ref: c.ref('log/inflight'), revision: 2 } });
    const cond = await condition('inflight', 'LogInconsistent', /TLOG_UNLOGGED_REVISION/);
    expect(cond.message).toMatch(/revision 2 .*has no entry in the log/);
    await stillServing('inflight', d1);
  });

  it('through a mirror (mapping via): instances fetch from the mirror, status.log names the origin, and a mirror that re-points a tag is caught', async () => {
    await ctl!.stop();
    ctl = undefined;
    const d1 = await publishLogged('log/origin', 1);
    await mirrorRepository(clientOf(host(), 'log/origin'), clientOf(host(), 'cache/origin'));
    const namespaces = parseNamespaceMap(`namespaces:\n  fed/*: { registry: "${c.ref('log')}", via: "${c.ref('cache')}" }\n`, 'map.yaml');
    ctl = await startClusterController(c, { logKeys: [`${host()}=${key.verifierKey}`], namespaces, ...fast });
    const p = await running('mirrored', { archive: { ref: 'fed/origin', revision: 1 } });
    expect(p.status.resolved).toMatchObject({ ref: c.ref('cache/origin'), digest: d1 });
    expect(p.status.log.origin).toBe(c.ref('log/origin'));
    expect((await c.instances('mirrored'))[0].spec.archive.ref).toBe(c.ref('cache/origin'));
    // the mirror re-points rev-1 at other validly signed bytes
    const other = await createPar({
      name: 'mirrored',
      vendor: 'gantry-test',
      version: '1.1.0',
      revision: 1,
      issuerSeed: c.issuerSeed,
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': new TextEncoder().encode('mirror lies') },
    });
    const otherDigest = (await openArchiveStore(c.ref('log/shadow3'), { plainHttpRegistries: [host()] }).push(other)).digest;
    await repointTag(host(), 'cache/origin', 'rev-1', otherDigest, 'log/shadow3');
    const cond = await condition('mirrored', 'LogInconsistent', /TLOG_TAG_MISMATCH/);
    expect(cond.message).toContain(otherDigest);
    await stillServing('mirrored', d1);
  });

  it('a Provider that requires a log refuses a repository without one (LogMissing); without the requirement it runs', async () => {
    await c.publish('log/none', { revision: 1, targets: ['x86_64-linux'] });
    await c.applyProvider('strict', { archive: { ref: c.ref('log/none'), requireLog: true }, replicas: 1 });
    const cond = await condition('strict', 'LogMissing');
    expect(cond.message).toMatch(/no transparency log.*spec\.archive\.requireLog/);
    expect(await c.instances('strict')).toHaveLength(0);
    await c.heartbeat('n1');
    await c.applyProvider('lenient', { archive: { ref: c.ref('log/none') }, replicas: 1 });
    await waitFor('placed', async () => (await c.instances('lenient')).length === 1);
    expect((await c.provider('lenient'))?.status?.log).toBeUndefined();
  });

  it('under the cluster-wide --require-log: a new Provider pinned to a revision moved before it existed is refused (TLOG_TAG_MISMATCH), one without a log is LogMissing, one whose log is signed by a key trusted for another origin is LogKeyNotForOrigin', async () => {
    await ctl?.stop();
    // the key is trusted for <registry>/log/ only
    ctl = await startClusterController(c, { logKeys: [`${host()}/log/=${key.verifierKey}`], requireLog: true, ...fast });
    const d1 = await publishLogged('log/moved-early', 1);
    const other = await createPar({
      name: 'moved-early',
      vendor: 'gantry-test',
      version: '1.1.0',
      revision: 1,
      issuerSeed: c.issuerSeed,
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': new TextEncoder().encode('attacker') },
    });
    const otherDigest = (await openArchiveStore(c.ref('log/shadow5'), { plainHttpRegistries: [host()] }).push(other)).digest;
    await repointTag(host(), 'log/moved-early', 'rev-1', otherDigest, 'log/shadow5');
    await c.heartbeat('n1');
    await c.applyProvider('late', { archive: { ref: c.ref('log/moved-early'), revision: 1 }, replicas: 1 });
    const moved = await condition('late', 'LogInconsistent', /TLOG_TAG_MISMATCH/);
    expect(moved.message).toContain(d1);
    expect(moved.message).toContain(otherDigest);
    expect(await c.instances('late')).toHaveLength(0);

    await c.publish('log/none2', { revision: 1, targets: ['x86_64-linux'] });
    await c.applyProvider('unlogged', { archive: { ref: c.ref('log/none2') }, replicas: 1 });
    expect((await condition('unlogged', 'LogMissing')).message).toMatch(/the controller's --require-log/);
    expect(await c.instances('unlogged')).toHaveLength(0);

    // signed by the same key, but for a repository outside <registry>/log/
    await publishLogged('elsewhere/kv', 1);
    await c.applyProvider('elsewhere', { archive: { ref: c.ref('elsewhere/kv') }, replicas: 1 });
    const foreign = await condition('elsewhere', 'LogKeyNotForOrigin', /^TLOG_KEY_NOT_FOR_ORIGIN: /);
    expect(foreign.message).toContain(
      `the checkpoint for "${c.ref('elsewhere/kv')}" is signed only by trusted keys bound to other origins`,
    );
    expect(await c.instances('elsewhere')).toHaveLength(0);
  });
});
