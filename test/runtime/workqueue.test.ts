import { describe, it, expect } from 'vitest';
import { WorkQueue } from '../../runtime/toolkit/workqueue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('WorkQueue', () => {
  it('de-duplicates waiting keys and re-runs a key added while it is processed, never concurrently', async () => {
    const q = new WorkQueue({ concurrency: 4 });
    const runs: string[] = [];
    let concurrentSameKey = 0;
    const active = new Set<string>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    q.add('a');
    q.add('a');
    q.add('b');
    q.run(async (k) => {
      if (active.has(k)) concurrentSameKey++;
      active.add(k);
      runs.push(k);
      if (runs.length === 1) await gate;
      active.delete(k);
    });
    await tick();
    q.add('a'); // while 'a' is in progress
    q.add('a');
    release();
    await q.idle();
    expect(runs.filter((k) => k === 'a')).toHaveLength(2);
    expect(runs.filter((k) => k === 'b')).toHaveLength(1);
    expect(concurrentSameKey).toBe(0);
    await q.stop();
  });

  it('limits concurrency', async () => {
    const q = new WorkQueue({ concurrency: 2 });
    let now = 0;
    let peak = 0;
    for (let i = 0; i < 10; i++) q.add(`k${i}`);
    q.run(async () => {
      now++;
      peak = Math.max(peak, now);
      await tick(2);
      now--;
    });
    await q.idle();
    expect(peak).toBe(2);
    await q.stop();
  });

  it('backs off exponentially per key up to the cap, and forgets on success', async () => {
    const q = new WorkQueue({ backoffBaseMs: 10, backoffMaxMs: 40 });
    expect(q.backoffFor('x')).toBe(10);
    q.retry('x');
    expect(q.backoffFor('x')).toBe(20);
    q.retry('x');
    q.retry('x');
    q.retry('x');
    expect(q.backoffFor('x')).toBe(40);
    expect(q.backoffFor('y')).toBe(10);
    q.forget('x');
    expect(q.backoffFor('x')).toBe(10);
    await q.stop();
  });

  it('retries a failing key until it succeeds, then resets its backoff', async () => {
    const q = new WorkQueue({ backoffBaseMs: 1, backoffMaxMs: 4 });
    let calls = 0;
    const errors: number[] = [];
    const q2 = new WorkQueue({ backoffBaseMs: 1, backoffMaxMs: 4, onError: (_k, _e, attempt) => errors.push(attempt) });
    await q.stop();
    const done = new Promise<void>((resolve) =>
      q2.run(async () => {
        calls++;
        if (calls < 4) throw new Error('boom');
        resolve();
      }),
    );
    q2.add('k');
    await done;
    expect(calls).toBe(4);
    expect(errors).toEqual([1, 2, 3]);
    await tick();
    expect(q2.attempts('k')).toBe(0);
    await q2.stop();
  });

  it('does no work while paused and resumes', async () => {
    const q = new WorkQueue();
    const runs: string[] = [];
    q.run(async (k) => void runs.push(k));
    q.pause();
    q.add('a');
    await tick();
    expect(runs).toEqual([]);
    expect(q.depth).toBe(1);
    q.run(async (k) => void runs.push(k));
    await q.idle();
    expect(runs).toEqual(['a']);
    await q.stop();
  });
});

describe('Limiter', () => {
  it('bounds work in flight across callers', async () => {
    const { Limiter } = await import('../../runtime/toolkit/limiter.js');
    const l = new Limiter(3);
    let now = 0;
    let peak = 0;
    const job = async () => {
      now++;
      peak = Math.max(peak, now);
      await tick(2);
      now--;
    };
    await Promise.all([
      l.each(
        Array.from({ length: 10 }, (_, i) => i),
        job,
      ),
      l.each(
        Array.from({ length: 10 }, (_, i) => i),
        job,
      ),
    ]);
    expect(peak).toBe(3);
    expect(now).toBe(0);
  });
});
