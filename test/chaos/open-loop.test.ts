/**
 * The open loop the chaos run and the upgrade test's callers share (bench/support/open-loop.ts),
 * on vitest's fake clock so the pacing is exact: call i starts at i / rate seconds whether or not
 * the earlier calls answered, a call due while maxInFlight run is skipped (not queued for a burst
 * later), and stop() starts nothing more and waits for the calls in flight.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { OpenLoop } from '../../bench/support/open-loop.js';

beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'performance'] }));
afterEach(() => vi.useRealTimers());

/** A call that answers only when released, so the test decides what is in flight. */
function held() {
  const started: number[] = [];
  const release: Array<() => void> = [];
  const call = (i: number) =>
    new Promise<void>((r) => {
      started.push(i);
      release.push(r);
    });
  return { started, release, call };
}

it('starts calls at the rate while none answers, skips those due past maxInFlight, and stop() waits for those in flight', async () => {
  const h = held();
  const loop = new OpenLoop(10, 4, h.call);
  loop.start();
  await vi.advanceTimersByTimeAsync(350);
  expect(h.started).toEqual([1, 2, 3]); // due at 100, 200, 300 ms, none answered
  await vi.advanceTimersByTimeAsync(650);
  expect(h.started).toEqual([1, 2, 3, 4]); // the 4 in flight are the cap
  expect(loop.skipped).toBe(6); // calls 5–10 were due: skipped, not queued
  for (const r of h.release.splice(0, 2)) r();
  await vi.advanceTimersByTimeAsync(200);
  expect(h.started).toEqual([1, 2, 3, 4, 11, 12]); // paced again from where the clock is, no burst
  let stopped = false;
  const stopping = loop.stop().then(() => (stopped = true));
  await vi.advanceTimersByTimeAsync(500);
  expect([h.started.length, stopped]).toEqual([6, false]); // nothing new after stop(); 4 still in flight
  for (const r of h.release.splice(0)) r();
  await stopping;
  expect(loop.ranMs()).toBe(1200);
});

it('a call that rejects frees its place and is counted, never an unhandled rejection', async () => {
  let n = 0;
  const loop = new OpenLoop(100, 1, async () => {
    n++;
    throw new Error('a caller that did not record its failure');
  });
  loop.start();
  await vi.advanceTimersByTimeAsync(100);
  await loop.stop();
  expect([n, loop.skipped, loop.rejected]).toEqual([10, 0, 10]);
});
