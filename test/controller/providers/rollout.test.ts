import { describe, it, expect } from 'vitest';
import { planRollout, resolveFenceposts, type InstanceView } from '../../../controller/providers/rollout.js';
import { ProviderSpec } from '../../../api/provider.js';
import { providerCrd } from '../../../api/crds.js';

let seq = 0;
const inst = (digest: string, ready: boolean, extra: Partial<InstanceView> = {}): InstanceView => ({
  name: `i${++seq}`,
  node: `n${seq}`,
  template: digest,
  ready,
  createdAt: `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}Z`,
  ...extra,
});

describe('planRollout', () => {
  it('scales up and down, removing unhealthy instances first', () => {
    expect(planRollout({ instances: [inst('d1', true)], targetTemplate: 'd1', desired: 3, maxSurge: 0, maxUnavailable: 1 }).create).toBe(2);
    const unhealthy = inst('d1', false);
    const down = planRollout({
      instances: [inst('d1', true), unhealthy, inst('d1', true)],
      targetTemplate: 'd1',
      desired: 1,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(down.remove).toHaveLength(2);
    expect(down.remove.map((r) => r.name)).toContain(unhealthy.name);
    expect(down.create).toBe(0);
  });

  it('rolls out without going below desired - maxUnavailable Ready, step by step', () => {
    // simulate: 4 replicas on d1, roll to d2 with maxUnavailable 1, maxSurge 0
    let world: InstanceView[] = [inst('d1', true), inst('d1', true), inst('d1', true), inst('d1', true)];
    let steps = 0;
    for (; steps < 20; steps++) {
      const plan = planRollout({ instances: world, targetTemplate: 'd2', desired: 4, maxSurge: 0, maxUnavailable: 1 });
      if (plan.complete) break;
      const removed = new Set(plan.remove.map((r) => r.name));
      world = world.filter((i) => !removed.has(i.name));
      expect(world.filter((i) => i.ready).length).toBeGreaterThanOrEqual(3);
      for (let k = 0; k < plan.create; k++) world.push(inst('d2', false));
      expect(world.length).toBeLessThanOrEqual(4);
      // the agents start what was created
      world = world.map((i) => ({ ...i, ready: true }));
    }
    expect(world.every((i) => i.template === 'd2' && i.ready)).toBe(true);
    expect(world).toHaveLength(4);
    expect(steps).toBeGreaterThanOrEqual(4);
  });

  it('surges instead of dropping below desired when maxUnavailable is 0', () => {
    const world = [inst('d1', true), inst('d1', true)];
    const plan = planRollout({ instances: world, targetTemplate: 'd2', desired: 2, maxSurge: 1, maxUnavailable: 0 });
    expect(plan.remove).toHaveLength(0);
    expect(plan.create).toBe(1);
  });

  it('removes lost and failed instances regardless of budgets, and only heals with nothing resolved', () => {
    const lost = inst('d1', true, { removeReason: 'NodeDeleted' });
    const plan = planRollout({ instances: [lost, inst('d1', true)], targetTemplate: 'd1', desired: 2, maxSurge: 0, maxUnavailable: 0 });
    expect(plan.remove).toEqual([{ name: lost.name, node: lost.node, reason: 'NodeDeleted' }]);
    expect(plan.create).toBe(1);
    const nothing = planRollout({
      instances: [inst('d1', true, { removeReason: 'AgentLost' })],
      targetTemplate: undefined,
      desired: 3,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(nothing.create).toBe(0);
    expect(nothing.remove).toHaveLength(1);
  });
});

describe('percentage budgets', () => {
  it('resolves percentages of desired like Deployments: maxSurge rounds up, maxUnavailable down', () => {
    expect(resolveFenceposts('25%', '25%', 10)).toEqual({ maxSurge: 3, maxUnavailable: 2 });
    expect(resolveFenceposts('25%', '25%', 4)).toEqual({ maxSurge: 1, maxUnavailable: 1 });
    expect(resolveFenceposts('100%', '100%', 3)).toEqual({ maxSurge: 3, maxUnavailable: 3 });
    expect(resolveFenceposts(2, '50%', 5)).toEqual({ maxSurge: 2, maxUnavailable: 2 });
    expect(resolveFenceposts('10%', 0, 1)).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('when both budgets come to 0 after rounding, allows one unavailable so the rollout can move', () => {
    expect(resolveFenceposts('0%', '25%', 2)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
    expect(resolveFenceposts(0, '49%', 2)).toEqual({ maxSurge: 0, maxUnavailable: 1 });
  });

  it('plans a rollout with percentage budgets, never below desired - floor(maxUnavailable%) Ready nor above desired + ceil(maxSurge%)', () => {
    let world: InstanceView[] = Array.from({ length: 10 }, () => inst('d1', true));
    let steps = 0;
    for (; steps < 30; steps++) {
      const plan = planRollout({ instances: world, targetTemplate: 'd2', desired: 10, maxSurge: '25%', maxUnavailable: '25%' });
      if (plan.complete) break;
      const removed = new Set(plan.remove.map((r) => r.name));
      world = world.filter((i) => !removed.has(i.name));
      expect(world.filter((i) => i.ready).length).toBeGreaterThanOrEqual(8);
      for (let k = 0; k < plan.create; k++) world.push(inst('d2', false));
      expect(world.length).toBeLessThanOrEqual(13);
      world = world.map((i) => ({ ...i, ready: true }));
    }
    expect(world).toHaveLength(10);
    expect(world.every((i) => i.template === 'd2')).toBe(true);
    // the first step uses the whole budget: 2 removed, 3 + 2 created
    const first = planRollout({
      instances: Array.from({ length: 10 }, () => inst('d1', true)),
      targetTemplate: 'd2',
      desired: 10,
      maxSurge: '25%',
      maxUnavailable: '25%',
    });
    expect(first.remove).toHaveLength(2);
    expect(first.create).toBe(5);
  });
});

describe('rollout budgets in the Provider spec', () => {
  const base = { archive: { ref: '127.0.0.1:5000/acme/kv' } };
  const issues = (rollout: unknown) => {
    const r = ProviderSpec.safeParse({ ...base, rollout });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('accepts integers and percentages', () => {
    expect(issues({ maxUnavailable: '25%', maxSurge: '25%' })).toEqual([]);
    expect(issues({ maxUnavailable: 0, maxSurge: '150%' })).toEqual([]);
    expect(issues({ maxUnavailable: '100%' })).toEqual([]);
    expect(issues({ maxSurge: 2 })).toEqual([]);
  });

  it('refuses both zero, in any spelling, with a message that says why', () => {
    for (const rollout of [
      { maxUnavailable: 0 },
      { maxUnavailable: 0, maxSurge: 0 },
      { maxUnavailable: '0%', maxSurge: '0%' },
      { maxUnavailable: 0, maxSurge: '0%' },
    ]) {
      const got = issues(rollout);
      expect(got).toHaveLength(1);
      expect(got[0]).toMatch(/^rollout\.maxUnavailable: maxUnavailable and maxSurge cannot both be 0/);
    }
  });

  it('refuses malformed and out-of-range budgets', () => {
    expect(issues({ maxUnavailable: '150%' })[0]).toMatch(/^rollout\.maxUnavailable/);
    expect(issues({ maxUnavailable: '25' })[0]).toMatch(/^rollout\.maxUnavailable/);
    expect(issues({ maxSurge: 'lots' })[0]).toMatch(/^rollout\.maxSurge/);
    expect(issues({ maxSurge: -1 })[0]).toMatch(/^rollout\.maxSurge/);
    expect(issues({ maxSurge: 1.5 })[0]).toMatch(/^rollout\.maxSurge/);
  });

  it('renders int-or-string in the CRD the one way Kubernetes accepts, with the pattern beside it', () => {
    const rollout = providerCrd().spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.rollout.properties;
    for (const f of ['maxUnavailable', 'maxSurge']) {
      expect(rollout[f]['x-kubernetes-int-or-string']).toBe(true);
      expect(rollout[f].anyOf).toEqual([{ type: 'integer' }, { type: 'string' }]);
      expect(rollout[f].type).toBeUndefined();
      expect(rollout[f].minimum).toBe(0);
    }
    expect(new RegExp(rollout.maxUnavailable.pattern).test('100%')).toBe(true);
    expect(new RegExp(rollout.maxUnavailable.pattern).test('101%')).toBe(false);
    expect(new RegExp(rollout.maxSurge.pattern).test('250%')).toBe(true);
  });
});

describe('planRollout: which instance goes, why, and what the plan reports', () => {
  const v = (name: string, digest: string, ready: boolean, node = `node-${name}`, createdAt = '2026-01-01T00:00:00Z'): InstanceView => ({
    name,
    node,
    template: digest,
    ready,
    createdAt,
  });
  const removed = (p: { remove: { name: string }[] }) => p.remove.map((r) => r.name);
  const scaleTo = (desired: number, instances: InstanceView[], load?: Map<string, number>) =>
    planRollout({ instances, targetTemplate: 'd', desired, maxSurge: 0, maxUnavailable: 1, load });

  it('scaling down removes the unready first, then the one on the busiest node, then the newest, then by name — whatever the input order', () => {
    expect(removed(scaleTo(1, [v('a', 'd', true), v('b', 'd', false)]))).toEqual(['b']);
    const load = new Map([
      ['busy', 5],
      ['quiet', 1],
    ]);
    expect(removed(scaleTo(1, [v('a', 'd', true, 'quiet'), v('b', 'd', true, 'busy')], load))).toEqual(['b']);
    // a node missing from the load map counts as empty
    expect(removed(scaleTo(1, [v('a', 'd', true, 'unknown'), v('b', 'd', true, 'quiet')], load))).toEqual(['b']);
    expect(removed(scaleTo(1, [v('a', 'd', true, 'n', '2026-01-01T00:00:00Z'), v('b', 'd', true, 'n', '2026-01-02T00:00:00Z')]))).toEqual([
      'b',
    ]);
    const tie = [v('a', 'd', true, 'n'), v('b', 'd', true, 'n'), v('c', 'd', true, 'n')];
    expect(removed(scaleTo(1, tie))).toEqual(['a', 'b']);
    expect(removed(scaleTo(1, [...tie].reverse()))).toEqual(['a', 'b']);
  });

  it('scaling down says ScaledDown and reports what is kept', () => {
    const p = scaleTo(1, [v('a', 'd', true), v('b', 'd', true, 'node-b', '2026-01-02T00:00:00Z')]);
    expect(p.remove).toEqual([{ name: 'b', node: 'node-b', reason: 'ScaledDown' }]);
    expect(p.kept.map((i) => i.name)).toEqual(['a']);
    expect([p.updated, p.updatedReady, p.old, p.ready, p.create, p.complete]).toEqual([1, 1, 0, 1, 0, false]);
  });

  it('removes an unready old instance freely, even with no budget, as Replaced while new ones are still missing', () => {
    const p = planRollout({
      instances: [v('old', 'd0', false), v('ok', 'd0', true)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 1,
      maxUnavailable: 0,
    });
    expect(p.remove).toEqual([{ name: 'old', node: 'node-old', reason: 'Replaced' }]);
    expect(p.create).toBe(2);
  });

  it('an unready old instance beyond desired + maxSurge goes as ScaledDown', () => {
    const p = planRollout({
      instances: [v('n1', 'd', true), v('n2', 'd', true), v('old', 'd0', false)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 0,
      maxUnavailable: 0,
    });
    expect(p.remove).toEqual([{ name: 'old', node: 'node-old', reason: 'ScaledDown' }]);
  });

  it('an unready old instance is Replaced while the new ones and the surge leave room, whatever the surge', () => {
    // desired 2, surge 1, one new instance: 1 of 3 places taken
    const p = planRollout({
      instances: [v('n1', 'd', false), v('keep', 'd0', true), v('late', 'd0', false)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 1,
      maxUnavailable: 0,
    });
    expect(p.remove).toEqual([{ name: 'late', node: 'node-late', reason: 'Replaced' }]);
  });

  it('a ready old instance goes as Replaced while new ones are missing, as ScaledDown once they are all there', () => {
    const replacing = planRollout({
      instances: [v('o1', 'd0', true), v('o2', 'd0', true)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(replacing.remove.map((r) => r.reason)).toEqual(['Replaced']);
    const done = planRollout({
      instances: [v('n1', 'd', true), v('n2', 'd', true), v('o1', 'd0', true)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(done.remove).toEqual([{ name: 'o1', node: 'node-o1', reason: 'ScaledDown' }]);
    const exact = planRollout({
      instances: [v('n1', 'd', false), v('n2', 'd', true), v('o1', 'd0', true), v('o2', 'd0', true)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 0,
      maxUnavailable: 2,
    });
    expect(exact.remove.map((r) => r.reason)).toEqual(['ScaledDown', 'ScaledDown']);
    const one = planRollout({
      instances: [v('n1', 'd', true), v('o1', 'd0', true), v('o2', 'd0', true)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(one.remove.map((r) => r.reason)).toEqual(['Replaced', 'Replaced']);
  });

  it('removes ready old instances from the busiest node first, within the budget', () => {
    const load = new Map([
      ['busy', 4],
      ['quiet', 1],
    ]);
    const p = planRollout({
      instances: [v('q', 'd0', true, 'quiet'), v('b', 'd0', true, 'busy'), v('m', 'd0', true, 'quiet')],
      targetTemplate: 'd',
      desired: 3,
      maxSurge: 0,
      maxUnavailable: 1,
      load,
    });
    expect(removed(p)).toEqual(['b']);
  });

  it('counts only Ready instances toward availability: an unready new one does not let a second old one go', () => {
    const p = planRollout({
      instances: [v('n1', 'd', false), v('o1', 'd0', true), v('o2', 'd0', true), v('o3', 'd0', true)],
      targetTemplate: 'd',
      desired: 3,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(removed(p)).toHaveLength(1);
    expect([p.updated, p.updatedReady, p.old, p.ready]).toEqual([1, 0, 2, 2]);
  });

  it('an unready old instance does not count toward availability either: removing it frees no budget', () => {
    const p = planRollout({
      instances: [v('u', 'd0', false), v('r1', 'd0', true), v('r2', 'd0', true)],
      targetTemplate: 'd',
      desired: 2,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect(removed(p).sort()).toEqual(['r1', 'u']);
    expect(p.ready).toBe(1);
  });

  it('is complete only with exactly desired new instances, all Ready, no old one, nothing to remove or create', () => {
    const plan = (instances: InstanceView[]) => planRollout({ instances, targetTemplate: 'd', desired: 2, maxSurge: 0, maxUnavailable: 1 });
    expect(plan([v('a', 'd', true), v('b', 'd', true)]).complete).toBe(true);
    expect(plan([v('a', 'd', true)]).complete).toBe(false); // one to create
    expect(plan([v('a', 'd', true), v('b', 'd', false)]).complete).toBe(false); // not all Ready
    expect(plan([v('a', 'd', true), v('b', 'd', true), v('c', 'd', true)]).complete).toBe(false); // one to remove
    expect(plan([v('a', 'd', true), v('o', 'd0', true)]).complete).toBe(false); // an old one left
    expect(plan([v('a', 'd', true), v('b', 'd', true), { ...v('x', 'd', true), removeReason: 'NodeDeleted' }]).complete).toBe(false);
    expect(planRollout({ instances: [], targetTemplate: 'd', desired: 0, maxSurge: 0, maxUnavailable: 1 }).complete).toBe(true);
  });

  it('with nothing resolved only heals, and reports the live instances as old and how many are Ready', () => {
    const p = planRollout({
      instances: [v('a', 'd0', true), v('b', 'd0', false), { ...v('c', 'd0', true), removeReason: 'AgentLost' }],
      targetTemplate: undefined,
      desired: 3,
      maxSurge: 0,
      maxUnavailable: 1,
    });
    expect([p.create, p.updated, p.updatedReady, p.old, p.ready, p.complete]).toEqual([0, 0, 0, 2, 1, false]);
    expect(p.kept.map((i) => i.name)).toEqual(['a', 'b']);
  });
});

describe('budgets: only N or N%', () => {
  it('anything but an integer or N% is 0', async () => {
    const { scaledValue } = await import('../../../controller/providers/rollout.js');
    expect(scaledValue('50%', 10, true)).toBe(5);
    for (const bad of ['x50%', '50%x', '50', 'abc', '%']) expect(scaledValue(bad as `${number}%`, 10, true)).toBe(0);
  });

  it('a zero surge with a non-zero unavailability keeps it', () => {
    expect(resolveFenceposts(0, 3, 10)).toEqual({ maxSurge: 0, maxUnavailable: 3 });
    expect(resolveFenceposts('0%', '30%', 10)).toEqual({ maxSurge: 0, maxUnavailable: 3 });
  });
});
