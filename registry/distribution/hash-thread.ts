/**
 * The SHA-256s of a download computed on threads of their own while the socket is still
 * filling the buffer. A large archive otherwise costs the receiving thread the kernel's copy,
 * the blob's hash and then its binary's hash in series (~40 ms per 64 MiB each on the bench
 * machine); here the three overlap (docs/storage.md).
 *
 * The buffer is shared memory: the socket writes bytes [received, size), the hashing threads
 * read only [0, received) — bytes the kernel has finished writing, published with an atomic
 * store after each read. So the digest is over exactly the bytes handed back, as with the
 * inline hash. Two threads are kept per process (unreferenced while idle, so they never hold
 * a process open): one hashes the whole blob, the other the parts asked for (an archive's
 * binary), so the two passes run side by side; with one free thread it does both, with none
 * (or on a one-core machine) the download hashes inline — same result, only slower. A thread
 * that failed is not used again.
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
   * Also hash bytes [start, end) in the same pass, when a thread does the hashing (else
   * ignored); asked for once the download knows where a member lies, even after it arrived,
   * but before advance() reaches the end.
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
/** how many new bytes wake a waiting thread (a wake-up per read cost more than it saved) */
const WAKE_BYTES = 1024 * 1024;
/** Int32 counters: larger downloads hash inline (far above any archive limit in use) */
const MAX_SHARED_BYTES = 2 ** 31 - 1;

/** The thread's code (a script, so it runs the same from dist/ and from sources under vitest). */
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', ({ id, data, state, size, whole, ranges }) => {
  const bytes = new Uint8Array(data, 0, size);
  const st = new Int32Array(state);
  const all = whole ? { start: 0, end: size, at: 0, hash: createHash('sha256') } : undefined;
  const parts = [];
  const done = (p) => p.at === p.end;
  for (;;) {
    if (Atomics.load(st, ${STOP}) !== 0) return;
    // received before ranges: ranges are asked for before the bytes that end the download are published
    const received = Atomics.load(st, ${RECEIVED});
    for (let i = parts.length; ranges && i < Atomics.load(st, ${RANGES}); i++) {
      const start = st[${RANGES + 1} + 2 * i], end = st[${RANGES + 2} + 2 * i];
      parts.push({ start, end, at: start, hash: createHash('sha256') });
    }
    let moved = false;
    for (const p of all ? [all, ...parts] : parts) {
      const upTo = Math.min(p.end, received);
      if (upTo <= p.at) continue;
      p.hash.update(bytes.subarray(p.at, upTo));
      p.at = upTo;
      moved = true;
    }
    if (received === size && (!all || done(all)) && parts.every(done)) break;
    if (!moved) Atomics.wait(st, ${RECEIVED}, received, 1000);
  }
  parentPort.postMessage({
    id,
    digest: all && 'sha256:' + all.hash.digest('hex'),
    ranges: parts.filter(done).map((p) => ({ start: p.start, end: p.end, hex: p.hash.digest('hex') })),
  });
});
`;

interface Hashed {
  digest: string;
  ranges: RangeDigest[];
}

/** What one thread is asked to hash of a job: the whole buffer, the ranges, or both. */
interface Role {
  whole: boolean;
  ranges: boolean;
}

/** A hashing thread: one job at a time (a stopped one is let go at once; the next waits behind its last read). */
class HashThread {
  private readonly worker: Worker;
  private job: { id: number; resolve(r: Partial<Hashed>): void; reject(e: Error): void } | undefined;
  broken = false;

  constructor() {
    this.worker = new Worker(THREAD_SOURCE, { eval: true, name: 'gantry-blob-hash' });
    this.worker.unref();
    this.worker.on('message', (m: Partial<Hashed> & { id: number }) => {
      if (m.id === this.job?.id) this.job.resolve(m);
      this.release(m.id);
    });
    this.worker.on('error', (e) => this.fail(e));
    this.worker.on('exit', (code) => this.fail(new Error(`the hashing thread exited with ${code}`)));
  }

  get free(): boolean {
    return !this.broken && this.job === undefined;
  }

  run(id: number, data: SharedArrayBuffer, state: Int32Array, role: Role): Promise<Partial<Hashed>> {
    const hashed = new Promise<Partial<Hashed>>((resolve, reject) => (this.job = { id, resolve, reject }));
    this.worker.ref(); // a job outstanding keeps the process up until its digest arrives
    this.worker.postMessage({ id, data, state: state.buffer, size: data.byteLength, ...role });
    return hashed;
  }

  release(id: number): void {
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

/** Two threads: the blob's digest on one, its members on the other, so neither waits for the other's pass. */
const THREADS = 2;
const threads: HashThread[] = [];
let jobs = 0;

/** A StreamHash for `size` bytes (`parts`: ranges will be asked for): on the hashing threads that are free, else inline. */
export function streamHash(size: number, parts = false): StreamHash {
  if (size > 0 && size <= MAX_SHARED_BYTES && availableParallelism() > 1) {
    while (threads.length < THREADS) threads.push(new HashThread());
    // a thread that failed once is not used again
    const free = threads.filter((t) => t.free);
    if (free.length) return threaded(size, free.slice(0, parts ? 2 : 1));
  }
  return inlineHash(size);
}

/** The digest on `use[0]`, the ranges on `use[1]` (or both on the one thread there is). */
function threaded(size: number, use: HashThread[]): StreamHash {
  const data = new SharedArrayBuffer(size);
  const state = new Int32Array(new SharedArrayBuffer(4 * (RANGES + 1 + 2 * MAX_RANGES)));
  const id = ++jobs;
  const runs =
    use.length === 2
      ? [use[0].run(id, data, state, { whole: true, ranges: false }), use[1].run(id, data, state, { whole: false, ranges: true })]
      : [use[0].run(id, data, state, { whole: true, ranges: true })];
  const hashed = Promise.all(runs).then((r) => ({ digest: r[0].digest!, ranges: r.flatMap((x) => x.ranges ?? []) }));
  hashed.catch(() => {}); // read by digest(); an aborted download never asks
  let settled: Promise<Hashed> | undefined;
  let woken = 0;
  return {
    buffer: Buffer.from(data),
    advance(n: number) {
      Atomics.store(state, RECEIVED, n);
      // a thread still hashing picks up new bytes without a wake-up; a waiting one is woken per MiB and at the end
      if (n - woken < WAKE_BYTES && n !== size) return;
      woken = n;
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
    // a thread failing mid-way costs time, not the download: the bytes are all there, hash them here
    digest: () =>
      (settled ??= hashed.catch(() => ({
        digest: 'sha256:' + createHash('sha256').update(new Uint8Array(data)).digest('hex'),
        ranges: [],
      }))),
    abort() {
      Atomics.store(state, STOP, 1);
      Atomics.notify(state, RECEIVED);
      for (const t of use) t.release(id); // their promises are never awaited
    },
  };
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
