/**
 * A Provider's rollout history with the real controller and the `gantry rollout` CLI run as a
 * process: each rolled-out template becomes a ControllerRevision; undo writes an old template
 * back and the controller rolls it out and renumbers it; the limit prunes; a steady Provider
 * writes nothing; status waits and fails on a progress deadline; pause/resume set spec.paused.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningController } from '../../../controller/index.js';
import { realKubectl } from '../../support/apiserver.js';
import { gantryIn } from '../../support/gantry-cli.js';
import { APP, type Cluster, startCluster, startClusterController, stopAll, waitFor } from '../cluster.js';

const CAUSE = 'kubernetes.io/change-cause';

describe('rollout history, undo, status, pause and resume', () => {
  let c: Cluster;
  let ctl: RunningController;
  let home = '';
  let REF = '';
  let d1 = '';
  let d2 = '';

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'gantry-rollout-'));
    c = await startCluster();
    REF = c.ref('acme/kv');
    d1 = await c.publish('acme/kv', { revision: 1, capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    d2 = await c.publish('acme/kv', { revision: 2, capid: 'wascap:keyvalue', targets: ['x86_64-linux'] });
    for (let i = 1; i <= 3; i++) await c.addNode(`n${i}`, 'amd64');
    ctl = await startClusterController(c, { kubeConfig: c.controllerKc });
  }, 60_000);
  afterAll(async () => {
    await stopAll(ctl, c);
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const rollout = (...args: string[]) => gantryIn(home, home, ['rollout', ...args, '-n', APP, '--kubeconfig', c.api.kubeconfigPath]);
  const pPath = (name: string) => `/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers/${name}`;

  async function revisions(provider: string): Promise<any[]> {
    const l = await c.client.list(`/apis/apps/v1/namespaces/${APP}/controllerrevisions`, {
      labelSelector: `gantry.dev/provider=${provider}`,
    });
    return l.items.sort((a: any, b: any) => a.revision - b.revision);
  }
  /** Waits until the history is exactly these [revision number, archive revision, config] rows. */
  async function historyIs(provider: string, rows: [number, number, unknown?][]) {
    const want = JSON.stringify(rows.map(([n, a, cfg]) => [n, a, cfg ?? null]));
    let seen = '';
    return waitFor(`history ${want} (last seen ${seen})`, async () => {
      const rs = await revisions(provider);
      seen = JSON.stringify(rs.map((r) => [r.revision, r.data.archive.revision, r.data.config ?? null]));
      return seen === want && rs;
    });
  }
  /**
   * Agents start whatever is placed; resolves once `n` instances of `digest` (any, if absent) run
   * the Provider's current template (a config edit rolls out too) and status says so.
   */
  async function rolledOut(provider: string, digest: string | undefined, n: number) {
    await waitFor(
      `${provider} on ${digest ?? 'its current template'}`,
      async () => {
        await c.markRunning(provider);
        const l = await c.instances(provider);
        const p = await c.provider(provider);
        return (
          l.length === n &&
          l.every(
            (i) =>
              (digest === undefined || i.spec.archive.digest === digest) &&
              i.metadata.labels?.['gantry.dev/template-hash'] === p.status?.templateHash &&
              i.status?.phase === 'Running',
          ) &&
          p.status?.observedGeneration === p.metadata.generation &&
          p.status?.readyReplicas === n &&
          p.status?.updatedReplicas === n
        );
      },
      30_000,
      50,
    );
  }

  it('keeps each rolled-out template as a ControllerRevision owned by the Provider, with its change cause', async () => {
    await c.client.create(`/apis/gantry.dev/v1alpha1/namespaces/${APP}/providers`, {
      apiVersion: 'gantry.dev/v1alpha1',
      kind: 'Provider',
      metadata: { name: 'kv', namespace: APP, annotations: { [CAUSE]: 'deploy 1' } },
      spec: { archive: { ref: REF, revision: 1 }, replicas: 2 },
    });
    await rolledOut('kv', d1, 2);
    const [r1] = await historyIs('kv', [[1, 1]]);
    const p = await c.provider('kv');
    expect(r1.metadata.ownerReferences).toEqual([
      { apiVersion: 'gantry.dev/v1alpha1', kind: 'Provider', name: 'kv', uid: p.metadata.uid, controller: true, blockOwnerDeletion: true },
    ]);
    expect(r1.metadata.name).toMatch(/^kv-[0-9a-f]{10}$/);
    expect(r1.metadata.annotations).toMatchObject({ [CAUSE]: 'deploy 1', 'gantry.dev/digest': d1 });
    expect(r1.data).toEqual({ archive: { ref: REF, revision: 1 } });
    await waitFor('currentRevision 1', async () => (await c.provider('kv')).status?.currentRevision === 1);
    // kubectl get -o wide shows it (the CRD's printer column)
    const { stdout } = await promisify(execFile)(realKubectl(), [
      '--kubeconfig',
      c.api.kubeconfigPath,
      'get',
      'provider',
      'kv',
      '-n',
      APP,
      '-o',
      'wide',
    ]);
    // columns by the header's offsets: an empty cell (AUTOSCALE without spec.autoscale) is blanks
    const [head, row] = stdout.split('\n');
    expect(row.slice(head.indexOf('TEMPLATE')).split(/\s+/)[0]).toBe('1');

    await c.client.mergePatch(pPath('kv'), { metadata: { annotations: { [CAUSE]: 'upgrade to 2' } }, spec: { archive: { revision: 2 } } });
    await rolledOut('kv', d2, 2);
    const [, r2] = await historyIs('kv', [
      [1, 1],
      [2, 2],
    ]);
    expect(r2.metadata.annotations[CAUSE]).toBe('upgrade to 2');

    const h = await rollout('history', 'provider/kv');
    expect(h).toMatchObject({ code: 0, stderr: '' });
    expect(h.stdout).toBe('provider.gantry.dev/kv\nREVISION  CHANGE-CAUSE\n1         deploy 1\n2         upgrade to 2\n\n');
    const one = await rollout('history', 'provider/kv', '--revision', '1');
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('provider.gantry.dev/kv with revision #1\n  template:\n    archive:\n');
    expect(one.stdout).toContain('      revision: 1\n');
    expect(one.stdout).toContain(`  digest: ${d1}\n`);
    expect(await rollout('history', 'provider/kv', '--revision', '7')).toMatchObject({
      code: 1,
      stderr: 'gantry: unable to find the specified revision 7\n',
    });
  }, 90_000);

  it('a steady Provider reads its history from the cache and writes none', async () => {
    const requests = async () =>
      (await ctl.metrics.apiRequests.get()).values
        .filter((v) => v.labels.resource === 'controllerrevisions')
        .reduce((n, v) => n + v.value, 0);
    const reconciles = async () =>
      (await ctl.metrics.reconcileDuration.get()).values.filter((v) => v.metricName?.endsWith('_count')).reduce((n, v) => n + v.value, 0);
    const before = await requests();
    const seen = await reconciles();
    // a new node enqueues every Provider: one more reconcile of an unchanged kv
    await c.addNode('n4', 'amd64');
    await waitFor('a reconcile after the node joined', async () => (await reconciles()) > seen);
    expect(await requests()).toBe(before);
    expect((await revisions('kv')).map((r) => r.revision)).toEqual([1, 2]);
  });

  it('undo returns to the previous template (renumbered), --to-revision to any, and removes fields the revision lacked', async () => {
    const undo = await rollout('undo', 'provider/kv');
    expect(undo).toMatchObject({ code: 0, stdout: 'provider.gantry.dev/kv rolled back\n' });
    await rolledOut('kv', d1, 2);
    await historyIs('kv', [
      [2, 2],
      [3, 1],
    ]);
    await waitFor('currentRevision 3', async () => (await c.provider('kv')).status?.currentRevision === 3);
    expect((await rollout('history', 'provider/kv')).stdout).toBe(
      'provider.gantry.dev/kv\nREVISION  CHANGE-CAUSE\n2         upgrade to 2\n3         deploy 1\n\n',
    );
    expect((await c.provider('kv')).spec).toEqual({ archive: { ref: REF, revision: 1 }, replicas: 2 });

    expect(await rollout('undo', 'provider/kv', '--to-revision', '2')).toMatchObject({
      code: 0,
      stdout: 'provider.gantry.dev/kv rolled back\n',
    });
    await rolledOut('kv', d2, 2);
    await historyIs('kv', [
      [3, 1],
      [4, 2],
    ]);
    expect(await rollout('undo', 'provider/kv', '--to-revision', '4')).toMatchObject({
      code: 0,
      stdout: 'provider.gantry.dev/kv skipped rollback (current template already matches revision 4)\n',
    });
    expect(await rollout('undo', 'provider/kv', '--to-revision', '9')).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'gantry: unable to find specified revision 9 in history\n',
    });

    // a config edit is a new template; undoing it removes spec.config, keeping replicas
    await c.patchProvider('kv', { config: { level: 'debug' } });
    await historyIs('kv', [
      [3, 1],
      [4, 2],
      [5, 2, { level: 'debug' }],
    ]);
    expect((await rollout('undo', 'provider/kv')).code).toBe(0);
    await historyIs('kv', [
      [3, 1],
      [5, 2, { level: 'debug' }],
      [6, 2],
    ]);
    expect((await c.provider('kv')).spec).toEqual({ archive: { ref: REF, revision: 2 }, replicas: 2 });
  }, 90_000);

  it('spec.revisionHistoryLimit prunes the oldest revisions, never the current one', async () => {
    await c.patchProvider('kv', { revisionHistoryLimit: 1 });
    await historyIs('kv', [
      [5, 2, { level: 'debug' }],
      [6, 2],
    ]);
    await c.patchProvider('kv', { revisionHistoryLimit: 0 });
    await historyIs('kv', [[6, 2]]);
    expect(await rollout('undo', 'provider/kv')).toMatchObject({ code: 1, stderr: 'gantry: no rollout history found for provider "kv"\n' });
  });

  it('status exits 0 once rolled out, and 1 past the progress deadline', async () => {
    // the undo of the config edit above rolled out new instances: the agents start them
    await rolledOut('kv', d2, 2);
    expect(await rollout('status', 'provider/kv', '--timeout', '30s')).toMatchObject({
      code: 0,
      stdout: 'provider "kv" successfully rolled out\n',
    });
    expect(await rollout('status', 'provider/kv', '--watch=false')).toMatchObject({
      code: 0,
      stdout: 'provider "kv" successfully rolled out\n',
    });
    // nothing runs what is placed for "slow": it never becomes ready
    await c.applyProvider('slow', { archive: { ref: REF, revision: 1 }, replicas: 1, rollout: { progressDeadlineSeconds: 2 } });
    const r = await rollout('status', 'provider/slow', '--timeout', '60s');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('gantry: provider "slow" exceeded its progress deadline\n');
    expect(r.stdout).toMatch(/^Waiting for /);
  }, 90_000);

  it('pause and resume set and clear spec.paused, refusing what is already so; undo refuses a paused Provider', async () => {
    expect(await rollout('pause', 'provider/kv')).toMatchObject({ code: 0, stdout: 'provider.gantry.dev/kv paused\n' });
    expect((await c.provider('kv')).spec.paused).toBe(true);
    expect(await rollout('pause', 'provider/kv')).toMatchObject({
      code: 1,
      stderr: 'gantry: provider.gantry.dev "kv" is already paused\n',
    });
    const undo = await rollout('undo', 'provider/kv', '--to-revision', '6');
    expect(undo.code).toBe(1);
    expect(undo.stderr).toContain("you cannot rollback a paused provider; resume it first with 'gantry rollout resume provider/kv'");
    // a template changed while paused is no revision until resumed
    await c.patchProvider('kv', { config: { paused: 'edit' } });
    await waitFor('the paused edit observed', async () => {
      const p = await c.provider('kv');
      return p.status?.observedGeneration === p.metadata.generation;
    });
    expect((await revisions('kv')).map((r) => r.revision)).toEqual([6]);
    expect(await rollout('resume', 'provider/kv')).toMatchObject({ code: 0, stdout: 'provider.gantry.dev/kv resumed\n' });
    expect((await c.provider('kv')).spec.paused).toBeUndefined();
    await historyIs('kv', [[7, 2, { paused: 'edit' }]]);
    expect(await rollout('resume', 'provider/kv')).toMatchObject({ code: 1, stderr: 'gantry: provider.gantry.dev "kv" is not paused\n' });
  });

  it('a Provider that is not there, or not a Provider, says so', async () => {
    for (const verb of ['history', 'undo', 'status', 'pause', 'resume'])
      expect(await rollout(verb, 'provider/nope')).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `gantry: providers.gantry.dev "nope" not found in namespace ${APP}\n`,
      });
    expect(await rollout('undo', 'deployment/kv')).toMatchObject({
      code: 2,
      stderr: 'gantry: rollout: only Providers roll out here (provider/NAME), not "deployment"\n',
    });
  });
});
