/**
 * The upgrade tests of test/cluster/cluster.test.ts (registered inside its describe, so the
 * whole directory stays one cluster up and down): the cluster starts on the previous release
 * (v0.1.0: its image and manifests from the commit deploy/releases pins, `gantry.sh up --release v0.1.0`); echo runs 3
 * replicas, one per node, with a CapabilityGrant, all written by v0.1.0; then, under 100 calls/s
 * through the port-forwards with the client's retry policy:
 *   1. v0.1.0 → this tree (`gantry.sh upgrade`: CRDs, host keeper, controller, agents node by
 *      node). v0.1.0 runs hosts in the agent's pod, so this one move into the keeper restarts
 *      each host once: counted and printed, not hidden. No call may fail with a code the retry
 *      policy does not retry; v0.1.0's stored objects read and reconcile.
 *   2. N → N′ (the agent DaemonSet's template changed: a restart annotation and an env, as a new
 *      agent version would): 0 host restarts (same host pids and start times on this machine, the
 *      same restartCount and startedAt in status) and 0 failed calls.
 * It leaves echo at 1 replica on the upgraded install for the tests that follow.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { CallLoad, type LoadFigures } from '../support/call-load.js';
import { type Cluster, until } from '../support/cluster.js';

export const RELEASE = 'v0.1.0';
const NS = 'gantry-system';
const RATE = 100;

interface Instance {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName: string };
  status?: { phase?: string; startedAt?: string; restartCount?: number };
}

export interface UpgradeContext {
  c: Cluster;
  nats: () => string;
  timed: (name: string, fn: () => Promise<void>) => () => Promise<void>;
}

export function upgradeTests({ c, nats, timed }: UpgradeContext): void {
  const instances = async (): Promise<Instance[]> =>
    (await c.json<{ items: Instance[] }>('get', 'providerinstances', '-n', 'default', '-l', 'gantry.dev/provider=echo')).items.filter(
      (i) => !i.metadata.deletionTimestamp,
    );
  const spreadRunning = (is: Instance[]) =>
    is.length === 3 && is.every((i) => i.status?.phase === 'Running') && new Set(is.map((i) => i.spec.nodeName)).size === 3;
  const images = async (label: string) =>
    (await c.json<{ items: any[] }>('get', 'pods', '-n', NS, '-l', `app.kubernetes.io/name=${label}`)).items.map(
      (p) => p.spec.containers[0].image as string,
    );
  const load = () =>
    CallLoad.connect(
      nats(),
      join(c.gantryDir, 'membrane', 'admin.creds'),
      join(c.gantryDir, 'membrane', 'ca', 'ca.crt'),
      { namespace: 'default', provider: 'echo', op: 'Echo' },
      RATE,
    );
  const report = (what: string, f: LoadFigures, restarted: number, of: number, steps: string) =>
    console.log(
      `${what}: ${f.sent} calls in ${f.seconds} s (${RATE}/s), ${f.succeeded} succeeded, failed ${JSON.stringify(f.failedByCode)}, ` +
        `${f.retried} retried, ${f.skipped} skipped; hosts restarted ${restarted} of ${of}\n${steps}`,
    );
  // gantry.sh's step and per-node lines
  const steps = (err: string) =>
    err
      .split('\n')
      .filter((l) => /^gantry\.sh: .*[0-9.]+ s/.test(l))
      .join('\n');
  let grantUser = '';

  it(
    `${RELEASE} installed from its pinned commit serves echo on every node, with a CapabilityGrant it issued`,
    timed(`${RELEASE}: echo ×3 and a grant`, async () => {
      for (const name of ['gantry-controller', 'gantry-agent'])
        for (const image of await images(name)) expect(image, name).toBe(`localhost/gantry/gantry:${RELEASE.slice(1)}`);
      expect((await c.kubectl(['get', 'daemonset', 'gantry-host-keeper', '-n', NS])).err).toContain('NotFound');
      // a memory cap puts each host in a child of the cluster's delegated cgroup, where this
      // machine reads its pid (Cluster.hostProcesses) whichever pod runs it
      await c.k('patch', 'provider/echo', '-n', 'default', '--type=merge', '-p', '{"spec":{"replicas":3,"resources":{"memory":"128Mi"}}}');
      await until('echo ×3 Running, one per node', instances, spreadRunning, 180_000);
      await c.k('wait', 'provider/echo', '-n', 'default', '--for=jsonpath={.status.readyReplicas}=3', '--timeout=120s');
      await until(
        'a host process per echo instance',
        async () => c.hostProcesses('echo').size,
        (n) => n === 3,
        60_000,
      );
      const key = join(c.gantryDir, 'keys', 'user.nk');
      rmSync(key, { force: true }); // a re-run on the same cluster: gantry keys generate never overwrites
      const made = await c.gantry(['keys', 'generate', '--type', 'user', '--out', key]);
      expect(made.code, made.err).toBe(0);
      grantUser = (await c.gantry(['keys', 'public', key])).out.trim();
      expect(grantUser).toMatch(/^U[A-Z2-7]{55}$/);
      const manifest = join(c.gantryDir, 'grant.yaml');
      writeFileSync(
        manifest,
        `apiVersion: gantry.dev/v1alpha1\nkind: CapabilityGrant\nmetadata: {name: upgrade-caller, namespace: default}\nspec:\n  grantee: {nkey: ${grantUser}}\n  provider: echo\n  operations: [Echo]\n`,
      );
      await c.k('apply', '-f', manifest);
      await c.k('wait', 'capabilitygrant/upgrade-caller', '-n', 'default', '--for=condition=Ready', '--timeout=60s');
    }),
    300_000,
  );

  it(
    `${RELEASE} → this release under ${RATE} calls/s: no call fails beyond the retry policy; ${RELEASE}'s objects read and reconcile; each host moves into the keeper once`,
    timed(`${RELEASE} → current under load`, async () => {
      const before = await instances();
      const hostsBefore = c.hostProcesses('echo');
      expect(hostsBefore.size, 'a host process per instance in the cluster cgroup').toBe(3);
      const l = await load();
      let figures: LoadFigures;
      let out: { code: number; err: string };
      try {
        l.start();
        out = await c.gantrySh(['upgrade'], 600_000);
        expect(out.code, out.err.slice(-3000)).toBe(0);
        await until('echo ×3 Running, one per node, after the upgrade', instances, spreadRunning, 180_000);
        await c.k('wait', 'provider/echo', '-n', 'default', '--for=jsonpath={.status.readyReplicas}=3', '--timeout=120s');
      } finally {
        figures = await l.stop();
        await l.close();
      }
      const after = await instances();
      const hostsAfter = c.hostProcesses('echo');
      const restarted = before.filter((i) => hostsAfter.get(i.metadata.name) !== hostsBefore.get(i.metadata.name)).length;
      report(`upgrade ${RELEASE} → current`, figures, restarted, before.length, steps(out.err));
      expect(figures.skipped).toBe(0);
      expect(figures.finalFailures, JSON.stringify(figures.failedByCode)).toBe(0);
      expect(figures.sent).toBeGreaterThan(RATE * 10);
      // the controller and agents run this tree's image; every node has its keeper
      for (const name of ['gantry-controller', 'gantry-agent', 'gantry-host-keeper'])
        for (const image of await images(name)) expect(image, name).toBe('localhost/gantry/gantry:dev');
      expect(await images('gantry-host-keeper')).toHaveLength(3);
      // the objects v0.1.0 wrote read through the new CRDs, and the new controller reconciles them
      const p = await c.json('get', 'provider', 'echo', '-n', 'default');
      expect(p.status.observedGeneration).toBe(p.metadata.generation);
      expect(after.map((i) => i.metadata.uid).sort()).toEqual(before.map((i) => i.metadata.uid).sort());
      await c.k(
        'patch',
        'capabilitygrant/upgrade-caller',
        '-n',
        'default',
        '--type=merge',
        '-p',
        '{"spec":{"operations":["Echo","Ping"]}}',
      );
      const g = await until(
        'the grant re-issued by the new controller',
        () => c.json('get', 'capabilitygrant', 'upgrade-caller', '-n', 'default'),
        (x) =>
          x.status?.observedGeneration === x.metadata.generation &&
          x.status?.conditions?.some((k: any) => k.type === 'Ready' && k.status === 'True'),
        60_000,
      );
      expect(g.spec.grantee.nkey).toBe(grantUser);
      // the one-time move: v0.1.0's hosts died with its agent pods; none restarted twice
      expect(restarted).toBeLessThanOrEqual(before.length);
      for (const i of after) expect(i.status?.restartCount ?? 0, i.metadata.name).toBeLessThanOrEqual(1);
    }),
    900_000,
  );

  it(
    `N → N′ (the agent DaemonSet's template changed, as a new agent version) under ${RATE} calls/s: 0 host restarts, 0 failed calls`,
    timed("N → N': agents replaced, hosts adopted", async () => {
      const before = await instances();
      const hostsBefore = c.hostProcesses('echo');
      expect(hostsBefore.size).toBe(3);
      const old = join(c.gantryDir, 'agents-before-roll');
      writeFileSync(
        old,
        (await c.k('get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name=gantry-agent', '-o', 'jsonpath={.items[*].metadata.uid}'))
          .split(' ')
          .join('\n'),
      );
      const l = await load();
      let figures: LoadFigures;
      let out: { code: number; err: string };
      try {
        l.start();
        // what `kubectl rollout restart` and `kubectl set env` write, in one template change
        const patch = {
          spec: {
            template: {
              metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } },
              spec: { containers: [{ name: 'agent', env: [{ name: 'GANTRY_UPGRADE_MARK', value: 'n-prime' }] }] },
            },
          },
        };
        await c.k('patch', 'daemonset/gantry-agent', '-n', NS, '--type=strategic', '-p', JSON.stringify(patch));
        out = await c.gantrySh(['wait-agents', old], 400_000);
        expect(out.code, out.err.slice(-3000)).toBe(0);
        await until('echo ×3 Running after the roll', instances, spreadRunning, 120_000);
      } finally {
        figures = await l.stop();
        await l.close();
      }
      const after = await instances();
      const hostsAfter = c.hostProcesses('echo');
      const restarted = before.filter((i) => hostsAfter.get(i.metadata.name) !== hostsBefore.get(i.metadata.name)).length;
      report("agents N → N'", figures, restarted, before.length, steps(out.err));
      expect(figures.skipped).toBe(0);
      expect(figures.failedByCode).toEqual({});
      expect(figures.succeeded).toBe(figures.sent);
      // a host restarted or an instance replaced: say what the controller did (its events)
      const events = async () =>
        (await c.k('get', 'events', '-n', 'default', '--sort-by=.lastTimestamp')).split('\n').slice(-25).join('\n');
      const same = JSON.stringify(Object.fromEntries(hostsAfter)) === JSON.stringify(Object.fromEntries(hostsBefore));
      expect(Object.fromEntries(hostsAfter), same ? '' : `hosts changed; events:\n${await events()}`).toEqual(
        Object.fromEntries(hostsBefore),
      );
      // the same instances, none restarted (status.startedAt is not compared: the adopting agent
      // writes its own, see docs/upgrades.md)
      const byName = (is: Instance[]) =>
        Object.fromEntries(is.map((i) => [i.metadata.name, [i.metadata.uid, i.status?.restartCount ?? 0]]));
      expect(byName(after)).toEqual(byName(before));
    }),
    600_000,
  );

  it(
    'the upgraded install scales echo back to 1 for the tests that follow',
    timed('echo back to 1', async () => {
      await c.k('delete', 'capabilitygrant/upgrade-caller', '-n', 'default', '--wait=true', '--timeout=60s');
      await c.k('scale', 'provider/echo', '-n', 'default', '--replicas=1');
      await until('echo ×1', instances, (is) => is.length === 1 && is[0].status?.phase === 'Running', 120_000);
    }),
    300_000,
  );
}
