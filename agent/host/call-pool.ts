/**
 * Where handle_call runs: a small pool of worker threads that call the provider synchronously,
 * fed in batches. Calls stay off the event loop (the main thread only moves bytes between NATS
 * and the pool), and a burst of requests costs one message to a thread and one back rather
 * than one thread hand-off per call. Measured here (keyvalue Get, 64 in flight, one process):
 * koffi's per-call `.async` ≈ 17 µs of CPU per call, batched worker threads ≈ 4–6 µs.
 *
 * Every call gathered in one event-loop turn is split over the idle threads (so slow calls
 * still run in parallel), or goes to the least-busy thread when none is idle. A thread runs its
 * batch in order: a call that hangs holds up the calls queued behind it on that thread, which
 * then time out too; the pool steers new work to the other threads, and the instance counts
 * the stuck calls toward maxHungCalls.
 */
import { Worker } from 'node:worker_threads';
import type { BatchCall, BatchResult, CallWorkerData } from './call-worker.js';

/**
 * A call's answer on the event loop: its status and reply, and for a traced call the epoch ms
 * its native call started and ended on the call thread (0 when untraced). A plain
 * (status, body) callback fits too.
 */
export type TimedCallDone = (status: number, body: Uint8Array, startedAt: number, endedAt: number) => void;

interface PoolThread {
  worker: Worker;
  outstanding: number;
}

export class CallPool {
  private readonly threads: PoolThread[] = [];
  private readonly callbacks = new Map<number, TimedCallDone>();
  private pending: BatchCall[] = [];
  private scheduled = false;
  private nextId = 0;
  private closed = false;

  constructor(fns: CallWorkerData, size: number, onThreadError: (e: Error) => void) {
    const entry = new URL('./call-worker.js', import.meta.url);
    for (let i = 0; i < size; i++) {
      const t: PoolThread = { worker: new Worker(entry, { workerData: fns }), outstanding: 0 };
      t.worker.on('message', (results: BatchResult[]) => {
        t.outstanding -= results.length;
        for (const [id, status, body, startedAt, endedAt] of results) {
          const done = this.callbacks.get(id);
          this.callbacks.delete(id);
          done?.(status, body, startedAt, endedAt);
        }
      });
      t.worker.on('error', (e) => {
        // The host stops after this; answer every call now rather than after the drain timeout.
        const failed = [...this.callbacks.values()];
        this.callbacks.clear();
        const msg = new TextEncoder().encode(`call thread failed: ${e.message}`);
        for (const done of failed) done(1 /* GANTRY_ERR_PROVIDER */, msg, 0, 0);
        onThreadError(e);
      });
      this.threads.push(t);
    }
  }

  /**
   * Queue one handle_call; done runs on the event loop with its status and reply. traceparent
   * and tracestate are the W3C context the provider is handed ('' for an untraced call).
   */
  call(actor: string, op: string, msg: Uint8Array, done: TimedCallDone, traceparent = '', tracestate = ''): void {
    if (this.closed) throw new Error('call pool is closed');
    const id = this.nextId++;
    this.callbacks.set(id, done);
    // Copy: a NATS payload is a view into the read buffer, and posting a view clones its whole buffer.
    this.pending.push([id, actor, op, msg.slice(), traceparent, tracestate]);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0 || this.closed) return;
    const idle = this.threads.filter((t) => t.outstanding === 0);
    if (idle.length === 0) {
      let least = this.threads[0]!;
      for (const t of this.threads) if (t.outstanding < least.outstanding) least = t;
      this.send(least, batch);
      return;
    }
    const per = Math.ceil(batch.length / idle.length);
    for (let i = 0, k = 0; i < batch.length; i += per, k++) this.send(idle[k]!, batch.slice(i, i + per));
  };

  private send(t: PoolThread, batch: BatchCall[]): void {
    t.outstanding += batch.length;
    t.worker.postMessage(batch);
  }

  /**
   * Stop the threads that are idle. Threads stuck in native code cannot be stopped (terminate
   * waits for them), so they are left to die with the process.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.threads.filter((t) => t.outstanding === 0).map((t) => t.worker.terminate()));
    for (const t of this.threads) t.worker.unref();
  }
}
