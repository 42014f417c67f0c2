/**
 * The SHA-256 of a download computed on a second thread while the socket is still filling the
 * buffer. A large blob otherwise costs the receiving thread the kernel's copy plus the hash in
 * series (~40 ms per 64 MiB each on the bench machine); with a hashing thread the two overlap,
 * and the receiving thread is free sooner for the archive's own verification (docs/storage.md).
 *
 * The buffer is shared memory: the socket writes bytes [received, size), the hashing thread
 * reads only [0, received) — bytes the kernel has finished writing, published with an atomic
 * store after each read. So the digest is over exactly the bytes handed back, as with the
 * inline hash. One thread is kept per process (unreferenced while idle, so it never holds a
 * process open); a download that finds it busy, a one-core machine, or a thread that failed
 * hashes inline instead — same result, only slower.
 */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** A part of the buffer whose own SHA-256 was asked for (e.g. an archive member), by offset. */
export interface RangeDigest {
  start: number;
  end: number;
  /** lowercase hex */
  hex: string;
}

/** The digest of a buffer being filled front to back. */
export interface StreamHash {
  /** where the download writes: `size` bytes */
  readonly buffer: Buffer;
  /** bytes [0, n) are final (n only grows) */
  advance(n: number): void;
  /**
   * Also hash bytes [start, end) in the same pass, when the thread does the hashing (else
   * ignored); asked for once the download knows where a member lies, even after it arrived.
   */
  hashRange(start: number, end: number): void;
  /** `sha256:<hex>` of all `size` bytes and of the ranges asked for, once advance(size) was called */
  digest(): Promise<{ digest: string; ranges: RangeDigest[] }>;
  /** the download failed: stop hashing and free the thread (digest() never settles) */
  abort(): void;
}

// state words shared with the thread: how many bytes are final, whether to stop, how many
// ranges are asked for, then each range's start and end
const RECEIVED = 0;
const STOP = 1;
const RANGES = 2;
const MAX_RANGES = 4;
/** Int32 counters: larger downloads hash inline (far above any archive limit in use) */
const MAX_SHARED_BYTES = 2 ** 31 - 1;

/** The thread's code (a script, so it runs the same from dist/ and from sources under vitest). */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, data, state, size }) => {
  const bytes = new Uint8Array(data, 0, size);
  const st = new Int32Array(state);
  const whole = { start: 0, end: size, at: 0, hash: createHash('sha256') };
  const parts = [whole];
  for (;;) {
    if (Atomics.load(st, ${STOP}) !== 0) return;
    for (let i = parts.length - 1; i < Atomics.load(st, ${RANGES}); i++) {
      const start = st[${RANGES + 1} + 2 * i], end = st[${RANGES + 2} + 2 * i];
      parts.push({ start, end, at: start, hash: createHash('sha256') });
    }
    const received = Atomics.load(st, ${RECEIVED});
    let moved = false;
    for (const p of parts) {
      const upTo = Math.min(p.end, received);
      if (upTo <= p.at) continue;
      p.hash.update(bytes.subarray(p.at, upTo));
      p.at = upTo;
      moved = true;
    }
    if (whole.at === size) break;
    if (!moved) Atomics.wait(st, ${RECEIVED}, received, 1000);
  }
  const hex = (p) => p.hash.digest('hex');
  parentPort.postMessage({
    id,
    digest: 'sha256:' + hex(whole),
    ranges: parts.slice(1).filter((p) => p.at === p.end).map((p) => ({ start: p.start, end: p.end, hex: hex(p) })),
  });
});
`;

interface Hashed {
  digest: string;
  ranges: RangeDigest[];
}

interface Job {
  id: number;
  resolve(hashed: Hashed): void;
  reject(e: Error): void;
}

/** The process's hashing thread: one job at a time (a stopped one is let go at once; the next waits behind its last read). */
class HashThread {
  private readonly worker: Worker;
  private job: Job | undefined;
  private jobs = 0;
  broken = false;

  constructor() {
    this.worker = new Worker(THREAD_SOURCE, { eval: true, name: 'gantry-blob-hash' });
    this.worker.unref();
    this.worker.on('message', (m: Hashed & { id: number }) => {
      if (m.id === this.job?.id) this.job.resolve(m);
      this.release(m.id);
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`the hashing thread exited with ${code}`)));
  }

  get busy(): boolean {
    return this.job !== undefined;
  }

  start(size: number): StreamHash {
    const data = new SharedArrayBuffer(size);
    const state = new Int32Array(new SharedArrayBuffer(4 * (RANGES + 1 + 2 * MAX_RANGES)));
    let settled: Promise<Hashed> | undefined;
    const id = ++this.jobs;
    const hashed = new Promise<Hashed>((resolve, reject) => (this.job = { id, resolve, reject }));
    hashed.catch(() => {}); // read by digest(); an aborted download never asks
    this.worker.ref(); // a job outstanding keeps the process up until its digest arrives
    this.worker.postMessage({ id, data, state: state.buffer, size });
    return {
      buffer: Buffer.from(data),
      advance(n: number) {
        Atomics.store(state, RECEIVED, n);
        Atomics.notify(state, RECEIVED);
      },
      hashRange(start: number, end: number) {
        const n = Atomics.load(state, RANGES);
        if (n >= MAX_RANGES || !(0 <= start && start <= end && end <= size)) return;
        state[RANGES + 1 + 2 * n] = start;
        state[RANGES + 2 + 2 * n] = end;
        Atomics.store(state, RANGES, n + 1); // publishes the two words above
        Atomics.notify(state, RECEIVED);
      },
      // the thread failing mid-way costs time, not the download: the bytes are all there, hash them here
      digest: () =>
        (settled ??= hashed.catch(() => ({
          digest: 'sha256:' + createHash('sha256').update(new Uint8Array(data)).digest('hex'),
          ranges: [],
        }))),
      abort: () => {
        Atomics.store(state, STOP, 1);
        Atomics.notify(state, RECEIVED);
        this.release(id); // its promise is never awaited
      },
    };
  }

  private release(id: number): void {
    if (this.job?.id !== id) return;
    this.job = undefined;
    this.worker.unref();
  }

  private fail(e: Error): void {
    this.broken = true;
    const job = this.job;
    this.job = undefined;
    job?.reject(e);
  }
}

let thread: HashThread | undefined;

/** A StreamHash for `size` bytes: on the hashing thread when it is free, else inline. */
export function streamHash(size: number): StreamHash {
  if (size > 0 && size <= MAX_SHARED_BYTES && availableParallelism() > 1) {
    thread ??= new HashThread();
    // a thread that failed once is not tried again: inline from then on
    if (!thread.broken && !thread.busy) return thread.start(size);
  }
  return inlineHash(size);
}

/** The same digest on the calling thread, read by read. */
export function inlineHash(size: number): StreamHash {
  const buffer = Buffer.allocUnsafe(size);
  const hash = createHash('sha256');
  let hashed = 0;
  return {
    buffer,
    advance(n: number) {
      hash.update(buffer.subarray(hashed, n));
      hashed = n;
    },
    // on one thread a member's hash would be a second pass over the same bytes either way: left to the verifier
    hashRange() {},
    digest: async () => ({ digest: 'sha256:' + hash.digest('hex'), ranges: [] }),
    abort() {},
  };
}
