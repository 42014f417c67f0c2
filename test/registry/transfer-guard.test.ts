/**
 * The deadline and minimum-rate guard on its own (registry/distribution/transfer-guard.ts),
 * on Vitest's fake clock: a trickle fails with REGISTRY_TOO_SLOW after one window, a slow but
 * steady body passes, the deadline holds whatever moves (REGISTRY_DEADLINE), and a guarded
 * body errors with the guard's own failure. The same module against real sockets:
 * trickling-registry.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RegistryError } from '../../registry/errors.js';
import {
  belowRate,
  checkLimits,
  DEFAULT_TRANSFER_LIMITS,
  guardedBody,
  guardedResponse,
  TransferGuard,
  type TransferLimits,
} from '../../registry/distribution/transfer-guard.js';

const limits: TransferLimits = { deadlineMs: 10_000, minBytesPerSecond: 1000, rateWindowMs: 2_000 };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function codeOf(guard: TransferGuard): string | undefined {
  return guard.failure?.code;
}

describe('belowRate', () => {
  it('compares the bytes of a window with the minimum over that window, exactly at the edge', () => {
    expect(belowRate(limits, 2000, 2000)).toBe(false); // 1000 B/s exactly is enough
    expect(belowRate(limits, 1999, 2000)).toBe(true);
    expect(belowRate(limits, 4000, 2000)).toBe(false);
    expect(belowRate({ ...limits, minBytesPerSecond: 0 }, 0, 2000)).toBe(false);
  });
});

describe('checkLimits', () => {
  it('keeps sane limits and refuses a zero deadline or window, a negative rate, or NaN, naming which', () => {
    expect(checkLimits(limits)).toBe(limits);
    expect(checkLimits({ ...limits, minBytesPerSecond: 0 })).toEqual({ ...limits, minBytesPerSecond: 0 });
    expect(checkLimits({ deadlineMs: 1, rateWindowMs: 1, minBytesPerSecond: 0 }).deadlineMs).toBe(1);
    expect(() => checkLimits({ ...limits, deadlineMs: 0 })).toThrow(/deadline must be a number ≥ 1, not 0/);
    expect(() => checkLimits({ ...limits, rateWindowMs: 0 })).toThrow(/rate window must be a number ≥ 1, not 0/);
    expect(() => checkLimits({ ...limits, minBytesPerSecond: -1 })).toThrow(/minimum rate must be a number ≥ 0, not -1/);
    expect(() => checkLimits({ ...limits, deadlineMs: Number.NaN })).toThrow(/deadline/);
    expect(() => checkLimits({ ...limits, rateWindowMs: Number.POSITIVE_INFINITY })).toThrow(/rate window/);
  });

  it('defaults let a 256 MiB archive through at 1 MiB/s', () => {
    expect(checkLimits(DEFAULT_TRANSFER_LIMITS)).toBe(DEFAULT_TRANSFER_LIMITS);
    expect(DEFAULT_TRANSFER_LIMITS).toEqual({ deadlineMs: 600_000, minBytesPerSecond: 16 * 1024, rateWindowMs: 20_000 });
    expect(DEFAULT_TRANSFER_LIMITS.deadlineMs).toBeGreaterThan(256 * 1000);
    expect(belowRate(DEFAULT_TRANSFER_LIMITS, 1024 * 1024 * 20, DEFAULT_TRANSFER_LIMITS.rateWindowMs)).toBe(false);
  });
});

describe('TransferGuard', () => {
  it('fails a trickle after one window with REGISTRY_TOO_SLOW and the numbers', () => {
    const guard = new TransferGuard(limits, 'GET /v2/x/blobs/y');
    let bytes = 0;
    guard.measure(() => bytes);
    bytes += 1999; // 1 byte short of 1000 B/s over 2 s
    vi.advanceTimersByTime(1999);
    expect(guard.failure).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(codeOf(guard)).toBe('REGISTRY_TOO_SLOW');
    expect(guard.signal.aborted).toBe(true);
    expect(vi.getTimerCount()).toBe(0); // a failed guard holds no timers
    expect(guard.failure?.message).toBe(
      'GET /v2/x/blobs/y moved 1999 bytes in 2000 ms (999 B/s), under the minimum of 1000 B/s; lower --registry-min-rate if the link is honest but slow',
    );
  });

  it('lets a slow but steady body through, window after window, counting each window on its own', () => {
    const guard = new TransferGuard(limits, 'GET blob');
    let bytes = 500; // counted before measuring: not this window's
    guard.measure(() => bytes);
    for (let w = 0; w < 3; w++) {
      bytes += 2000;
      vi.advanceTimersByTime(2000);
    }
    expect(guard.failure).toBeUndefined();
    // the 3 windows before do not carry a short one
    bytes += 1000;
    vi.advanceTimersByTime(2000);
    expect(codeOf(guard)).toBe('REGISTRY_TOO_SLOW');
    expect(guard.failure?.message).toContain('moved 1000 bytes in 2000 ms (500 B/s)');
  });

  it('holds the deadline over bytes that move fast enough, with REGISTRY_DEADLINE and the numbers', () => {
    const guard = new TransferGuard(limits, 'GET blob');
    let bytes = 0;
    guard.measure(() => bytes);
    for (let t = 0; t < 9_999; t += 1000) {
      bytes += 5000;
      vi.advanceTimersByTime(Math.min(1000, 9_999 - t));
    }
    expect(guard.failure).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(codeOf(guard)).toBe('REGISTRY_DEADLINE');
    expect(guard.failure?.message).toBe(
      'GET blob did not finish within the 10000 ms deadline (50000 bytes moved); raise --registry-deadline if the registry is honest but slow',
    );
    expect(guard.failure).toBeInstanceOf(RegistryError);
  });

  it('holds the deadline while nothing is measured (a head that never comes), and after a pause', () => {
    const waiting = new TransferGuard(limits, 'GET manifest');
    vi.advanceTimersByTime(9_999);
    expect(waiting.failure).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(codeOf(waiting)).toBe('REGISTRY_DEADLINE');
    expect(waiting.failure?.message).toContain('(0 bytes moved)');

    const paused = new TransferGuard(limits, 'PATCH upload');
    paused.measure(() => 0);
    paused.pause(); // the body is out; no window may fail the wait for the answer
    vi.advanceTimersByTime(9_999);
    expect(paused.failure).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(codeOf(paused)).toBe('REGISTRY_DEADLINE');
  });

  it('does nothing more once finished, and the first failure stays', () => {
    const done = new TransferGuard(limits, 'GET');
    done.measure(() => 0);
    done.finish();
    vi.advanceTimersByTime(60_000);
    expect(done.failure).toBeUndefined();

    const slow = new TransferGuard(limits, 'GET');
    slow.measure(() => 0);
    vi.advanceTimersByTime(2000);
    expect(codeOf(slow)).toBe('REGISTRY_TOO_SLOW');
    vi.advanceTimersByTime(60_000);
    expect(codeOf(slow)).toBe('REGISTRY_TOO_SLOW');
    // measuring again after a failure starts no windows
    slow.measure(() => 0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a second measure replaces the first counter and its window', () => {
    const guard = new TransferGuard(limits, 'PUT');
    let first = 0;
    guard.measure(() => first);
    vi.advanceTimersByTime(1000);
    let second = 0;
    guard.measure(() => second);
    expect(vi.getTimerCount()).toBe(2); // the deadline and one window
    first += 10_000; // the old counter no longer counts
    vi.advanceTimersByTime(2000);
    expect(codeOf(guard)).toBe('REGISTRY_TOO_SLOW');
    expect(guard.failure?.message).toContain('moved 0 bytes');
    second += 0;
  });
});

describe('guardedBody / guardedResponse', () => {
  let cancelled: unknown[] = [];
  function source(chunks: Uint8Array[], hold = false): ReadableStream<Uint8Array> {
    let i = 0;
    cancelled = [];
    return new ReadableStream<Uint8Array>({
      pull(c) {
        if (i < chunks.length) c.enqueue(chunks[i++]);
        else if (!hold) c.close();
        else return new Promise(() => {}); // a registry that stops sending
      },
      cancel(reason) {
        cancelled.push(reason);
      },
    });
  }

  it('passes the bytes through, counts them, and finishes the guard at the end', async () => {
    const guard = new TransferGuard(limits, 'GET');
    const body = guardedBody(source([new Uint8Array(1500), new Uint8Array(600)]), guard);
    const got = await new Response(body).arrayBuffer();
    expect(got.byteLength).toBe(2100);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(guard.failure).toBeUndefined();
  });

  it('errors a stalled body with the guard failure itself', async () => {
    const guard = new TransferGuard(limits, 'GET /v2/x/blobs/y');
    const body = guardedBody(source([new Uint8Array(10)], true), guard);
    const reading = new Response(body).arrayBuffer();
    const caught = reading.catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2000);
    const e = (await caught) as RegistryError;
    expect(e).toBe(guard.failure);
    expect(e.code).toBe('REGISTRY_TOO_SLOW');
    expect(e.message).toContain('moved 10 bytes in 2000 ms (5 B/s)');
    // the registry's stream is hung up on, with the same reason
    expect(cancelled).toEqual([e]);
  });

  it('a body wrapped after its guard failed errors at once; a cancelled one finishes the guard', async () => {
    const failed = new TransferGuard(limits, 'GET');
    vi.advanceTimersByTime(10_000);
    const late = guardedBody(source([new Uint8Array(1)]), failed);
    await expect(new Response(late).arrayBuffer()).rejects.toMatchObject({ code: 'REGISTRY_DEADLINE' });

    const cancelled = new TransferGuard(limits, 'GET');
    await guardedBody(source([new Uint8Array(1)], true), cancelled).cancel();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a source that fails on its own keeps its error when the guard has none', async () => {
    const guard = new TransferGuard(limits, 'GET');
    const broken = new ReadableStream<Uint8Array>({
      pull(c) {
        c.error(new Error('socket hang up'));
      },
    });
    const e = await guardedBody(broken, guard)
      .getReader()
      .read()
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(Error);
    expect((e as Error).message).toBe('socket hang up');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('an answer without a body finishes its guard; one with a body keeps status and headers', async () => {
    const empty = new TransferGuard(limits, 'HEAD');
    const sent = { res: new Response(null, { status: 204 }), extra: 1 };
    expect(guardedResponse(sent, empty)).toBe(sent);
    expect(vi.getTimerCount()).toBe(0);

    const full = new TransferGuard(limits, 'GET');
    const wrapped = guardedResponse(
      { res: new Response('abc', { status: 201, statusText: 'Made', headers: { 'x-a': 'b' } }), extra: 2 },
      full,
    );
    expect(vi.getTimerCount()).toBe(2); // its deadline and its rate window, until the body is read
    expect(wrapped.extra).toBe(2);
    expect(wrapped.res.status).toBe(201);
    expect(wrapped.res.statusText).toBe('Made');
    expect(wrapped.res.headers.get('x-a')).toBe('b');
    expect(await wrapped.res.text()).toBe('abc');
    expect(vi.getTimerCount()).toBe(0);
  });
});
