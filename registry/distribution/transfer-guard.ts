/**
 * The bounds on one registry request that a registry cannot stretch: an overall deadline
 * (every attempt, headers and body together) and a minimum average transfer rate, measured
 * over a window while bytes should flow. An idle timer alone restarts on every byte, so a
 * registry that trickles one byte at a time held a pull open without end; a window's average
 * lets a slow but honest large blob through and fails a trickle. Every path that talks to a
 * registry (fetch, node:http uploads, direct blob downloads) takes its bounds from here.
 */
import { RegistryError } from '../errors.js';

export interface TransferLimits {
  /** the longest one request may take, all its attempts, headers and body (ms) */
  deadlineMs: number;
  /** the slowest average a body may move at over one window (bytes per second) */
  minBytesPerSecond: number;
  /** how long the average is taken over (ms); a pause shorter than this costs nothing */
  rateWindowMs: number;
}

/**
 * 10 minutes (a 256 MiB archive at 1 MiB/s takes ~4.5); 16 KiB/s over 20 s: a link that slow
 * is not worth waiting on, and a trickle of a few bytes a second fails within one window.
 */
export const DEFAULT_TRANSFER_LIMITS: TransferLimits = { deadlineMs: 600_000, minBytesPerSecond: 16_384, rateWindowMs: 20_000 };

/** Whether `bytes` moved over `windowMs` fall short of the minimum average. */
export function belowRate(limits: TransferLimits, bytes: number, windowMs: number): boolean {
  return bytes * 1000 < limits.minBytesPerSecond * windowMs;
}

/** Limits as given, or why not: a deadline and a window must be positive, a rate not negative. */
export function checkLimits(limits: TransferLimits): TransferLimits {
  for (const [name, value, min] of [
    ['deadline', limits.deadlineMs, 1],
    ['rate window', limits.rateWindowMs, 1],
    ['minimum rate', limits.minBytesPerSecond, 0],
  ] as const) {
    if (!Number.isFinite(value) || value < min) throw new RangeError(`registry transfer ${name} must be a number ≥ ${min}, not ${value}`);
  }
  return limits;
}

/**
 * One request's bounds. `signal` aborts with a REGISTRY_DEADLINE or REGISTRY_TOO_SLOW
 * RegistryError (its `reason`); `measure` starts the rate windows over a byte counter, `pause`
 * stops them (an upload's body is sent: the answer is the deadline's), `finish` ends it all.
 */
export class TransferGuard {
  private readonly controller = new AbortController();
  readonly signal = this.controller.signal;
  private readonly deadline: NodeJS.Timeout;
  private window: NodeJS.Timeout | undefined;
  private counted = () => 0;

  constructor(
    private readonly limits: TransferLimits,
    private readonly what: string,
  ) {
    this.deadline = setTimeout(
      () =>
        this.fail(
          new RegistryError(
            'REGISTRY_DEADLINE',
            `${what} did not finish within the ${limits.deadlineMs} ms deadline (${this.counted()} bytes moved); raise --registry-deadline if the registry is honest but slow`,
          ),
        ),
      limits.deadlineMs,
    );
    // Stryker disable next-line CallExpression: unref only lets a process exit while a guard is pending; the guard behaves the same
    this.deadline.unref();
  }

  /** Count bytes from now on with `counter` (a running total), checking the average each window. */
  measure(counter: () => number): void {
    this.counted = counter;
    clearInterval(this.window);
    if (this.signal.aborted) return;
    let before = counter();
    const { rateWindowMs, minBytesPerSecond } = this.limits;
    this.window = setInterval(() => {
      const moved = this.counted() - before;
      before += moved;
      if (belowRate(this.limits, moved, rateWindowMs))
        this.fail(
          new RegistryError(
            'REGISTRY_TOO_SLOW',
            `${this.what} moved ${moved} bytes in ${rateWindowMs} ms (${Math.floor((moved * 1000) / rateWindowMs)} B/s), under the minimum of ${minBytesPerSecond} B/s; lower --registry-min-rate if the link is honest but slow`,
          ),
        );
    }, rateWindowMs);
    // Stryker disable next-line CallExpression: as above
    this.window.unref();
  }

  /** No bytes are expected for now (an upload's body is out, the answer is awaited): the deadline alone holds. */
  pause(): void {
    clearInterval(this.window);
  }

  finish(): void {
    clearTimeout(this.deadline);
    clearInterval(this.window);
  }

  /** The failure this guard aborted with, if it did. */
  get failure(): RegistryError | undefined {
    return this.signal.aborted ? (this.signal.reason as RegistryError) : undefined;
  }

  private fail(e: RegistryError): void {
    this.finish();
    this.controller.abort(e);
  }
}

/**
 * `body` counted into `guard` as it is read: the rate windows start now (the head is in), the
 * guard finishes when the body ends or is cancelled, and a guard that fails errors the stream
 * with its own RegistryError, so every reader sees the same code whatever it reads with.
 */
export function guardedBody(body: ReadableStream<Uint8Array>, guard: TransferGuard): ReadableStream<Uint8Array> {
  let received = 0;
  const reader = body.getReader();
  guard.measure(() => received);
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const stop = () => {
        controller.error(guard.failure);
        reader.cancel(guard.failure).catch(() => {});
      };
      // an AbortSignal aborts once: the listener runs at most once
      if (guard.signal.aborted) stop();
      else guard.signal.addEventListener('abort', stop);
    },
    async pull(controller) {
      let next: Awaited<ReturnType<typeof reader.read>>;
      try {
        next = await reader.read();
      } catch (e) {
        guard.finish();
        throw guard.failure ?? e;
      }
      if (next.done) {
        guard.finish();
        controller.close();
        return;
      }
      received += next.value.length;
      controller.enqueue(next.value);
    },
    cancel(reason) {
      guard.finish();
      return reader.cancel(reason);
    },
  });
}

/** An answer whose body (if any) is counted into `guard` (guardedBody); with no body the guard is done. */
export function guardedResponse<T extends { res: Response }>(sent: T, guard: TransferGuard): T {
  const { res } = sent;
  if (!res.body) {
    guard.finish();
    return sent;
  }
  const init = { status: res.status, statusText: res.statusText, headers: res.headers };
  return { ...sent, res: new Response(guardedBody(res.body, guard), init) };
}
