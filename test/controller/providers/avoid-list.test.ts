/**
 * The recent-failure avoid list in isolation (controller/failed-nodes.ts feeding the
 * scheduler's RecentFailure filter through the schedule phase). The node an instance failed on
 * is the *least* loaded one here, so load scoring alone would put the replacement right back
 * there: only the avoid list keeps it away, and only until its backoff runs out.
 */
import { describe, expect, it } from 'vitest';
import { FailedNodes } from '../../../controller/providers/failed-nodes.js';
import { schedulePhase } from '../../../controller/providers/schedule.js';
import { nodeView, type NodeView } from '../../../controller/providers/scheduling/nodes.js';
import { defaultFilters, recentFailure } from '../../../controller/providers/scheduling/filters.js';
import type { RolloutPlan } from '../../../controller/providers/rollout.js';

const t0 = Date.parse('2026-01-01T00:00:00Z');
const KEY = 'apps/kv';
const cluster: Map<string, NodeView> = new Map(
  ['quiet', 'busy'].map((n) => [
    n,
    nodeView(
      {
        metadata: { name: n, labels: { 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux' } },
        spec: {},
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      },
      { metadata: { name: `gantry-agent-${n}`, annotations: {} }, spec: { holderIdentity: n, renewTime: new Date(t0).toISOString() } },
      Number.MAX_SAFE_INTEGER, // the agents stay live for the whole test clock
      t0,
    ),
  ]),
);
const load = new Map([['busy', 4]]);
const plan = { remove: [], create: 1, kept: [], updated: 0, updatedReady: 0, old: 0, ready: 0, complete: false } as RolloutPlan;

/** Where the schedule phase puts one replacement at `now`, given the failures recorded so far. */
function replacementAt(failed: FailedNodes, now: number) {
  return schedulePhase({
    key: KEY,
    spec: { archive: { ref: 'r/kv' } } as any,
    resolved: { digest: 'sha256:1', revision: 1, targets: ['x86_64-linux'] } as any,
    plan,
    nodes: cluster,
    load,
    previous: new Set(),
    avoid: failed.avoided(KEY, now),
  });
}

describe('the avoid list', () => {
  it('is one of the default filters', () => {
    expect(defaultFilters).toContain(recentFailure);
  });

  it('keeps a replacement off the node its instance just failed on, though load prefers it, and lets it back after the backoff', () => {
    const failed = new FailedNodes({ firstMs: 10_000, maxMs: 300_000 });
    expect(replacementAt(failed, t0).placements.map((p) => p.node)).toEqual(['quiet']); // load alone picks quiet
    failed.record(KEY, 'quiet', t0);
    const away = replacementAt(failed, t0 + 1);
    expect(away.placements.map((p) => p.node)).toEqual(['busy']);
    expect(away.summary).toBe('1 node amd64/linux: an instance failed here recently');
    expect(away.capacity).toBe(2); // an avoided node still counts toward what the Provider could run on
    expect(away.skipped).toBe('');
    expect(replacementAt(failed, t0 + 9_999).placements.map((p) => p.node)).toEqual(['busy']);
    expect(replacementAt(failed, t0 + 10_000).placements.map((p) => p.node)).toEqual(['quiet']);
  });

  it('backs off longer with each failure on the same node, up to the cap, per Provider', () => {
    const failed = new FailedNodes({ firstMs: 10_000, maxMs: 30_000 });
    failed.record(KEY, 'quiet', t0);
    failed.record(KEY, 'quiet', t0); // second failure: 20 s
    expect(replacementAt(failed, t0 + 19_999).placements.map((p) => p.node)).toEqual(['busy']);
    expect(replacementAt(failed, t0 + 20_000).placements.map((p) => p.node)).toEqual(['quiet']);
    failed.record(KEY, 'quiet', t0); // third: 40 s, capped at 30 s
    expect(replacementAt(failed, t0 + 29_999).placements.map((p) => p.node)).toEqual(['busy']);
    expect(replacementAt(failed, t0 + 30_000).placements.map((p) => p.node)).toEqual(['quiet']);
    expect(failed.avoided('apps/other', t0).size).toBe(0); // another Provider is not kept away
    // both nodes failed recently: nothing is placed rather than going back to a failing node
    failed.record(KEY, 'busy', t0 + 30_000);
    failed.record(KEY, 'quiet', t0 + 30_000);
    const none = replacementAt(failed, t0 + 30_001);
    expect(none.placements).toEqual([]);
    expect(none.unplaced).toBe(1);
    expect(none.summary).toBe('2 nodes amd64/linux: an instance failed here recently');
  });

  it('uses the defaults: 10 s after the first failure, capped at 5 min', () => {
    const failed = new FailedNodes();
    for (let i = 0; i < 10; i++) failed.record(KEY, 'quiet', t0);
    expect(failed.avoided(KEY, t0 + 299_999).has('quiet')).toBe(true);
    expect(failed.avoided(KEY, t0 + 300_000).has('quiet')).toBe(false);
    const once = new FailedNodes();
    once.record(KEY, 'quiet', t0);
    expect(once.avoided(KEY, t0 + 9_999).has('quiet')).toBe(true);
    expect(once.avoided(KEY, t0 + 10_000).has('quiet')).toBe(false);
  });
});
