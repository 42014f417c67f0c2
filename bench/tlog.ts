/**
 * The transparency log's costs. (1) Proof work in memory: verifying an inclusion proof, a
 * consistency proof and a checkpoint's Ed25519 signature, and computing proofs from stored
 * leaf hashes, for logs of 1 000 and 100 000 entries. (2) `gantry par push` with the log beside
 * a plain push in the same run, against a real docker-registry over loopback: the archive
 * store's push alone, then push + appendToLog (claim, confirmation wait, checkpoint), at the
 * default Δ = 1000 ms and at Δ = 200 ms; the overhead is printed with and without the
 * confirmation wait D = 1.5 × Δ, which is the price of Fischer's rule on a registry without
 * compare-and-swap. (3) The scale line (support/tlog-scale-line.ts): logs of 1,000, 100,000
 * and 1,000,000 entries generated as tiles — append, inclusion proof, consistency proof and the
 * witness check of a new revision, each with its wall time and HTTP requests, beside a 1,000-entry
 * log read the old way. Last, push + append via the sequencer (`gantry log serve`, in this
 * process, asked over loopback HTTP as `par push --log-sequencer` asks it): no wait, goal ≤ 200 ms
 * over a plain push. Run: `npm run build && node dist/bench/tlog.js [--scale 1000,100000]`.
 */
import { randomBytes } from 'node:crypto';
import { createPar, generateSeed, publicKeyFromSeed } from '../par/index.js';
import { startBenchRegistry } from './local-registry.js';
import { openArchiveStore, openContentBackend } from '../registry/index.js';
import {
  appendToLog,
  consistencyProof,
  formatCheckpoint,
  generateNoteKey,
  inclusionProof,
  leafHash,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  signNote,
  verifyConsistency,
  verifyInclusion,
  logEntryOf,
  listenSequencer,
  requestAppend,
  Sequencer,
  takeLease,
} from '../tlog/index.js';
import { median } from './timing.js';
import { scaleLine } from './support/tlog-scale-line.js';
import { tilesInMemory } from './support/tiles-memory.js';

const ROUNDS = 5;

async function time(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Microseconds per call of fn over `n` calls. */
function perCall(n: number, fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

function proofs(): void {
  const { signerKey, verifierKey } = generateNoteKey('bench.example/log');
  const signer = parseSignerKey(signerKey);
  const verifier = parseVerifierKey(verifierKey);
  console.log('proof work in memory (median of 5 batches, µs per call)');
  for (const size of [1_000, 100_000]) {
    const leaves = Array.from({ length: size }, (_, i) => leafHash(Buffer.from(`entry ${i}`)));
    const root = rootOf(leaves);
    const half = Math.floor(size / 2);
    const halfRoot = rootOf(leaves, half);
    const inc = inclusionProof(leaves, half);
    const cons = consistencyProof(leaves, half);
    const note = signNote(formatCheckpoint({ origin: 'bench.example/log', size, root, extensions: [] }), [signer]);
    const rows = {
      'verify inclusion proof': median(
        Array.from({ length: 5 }, () => perCall(2000, () => verifyInclusion(leaves[half], half, size, inc, root))),
      ),
      'verify consistency proof': median(
        Array.from({ length: 5 }, () => perCall(2000, () => verifyConsistency(half, size, cons, halfRoot, root))),
      ),
      'open checkpoint note (Ed25519 verify)': median(Array.from({ length: 5 }, () => perCall(50, () => openNote(note, [verifier])))),
      'compute inclusion proof from leaf hashes': median(
        Array.from({ length: 5 }, () => perCall(3, (i) => inclusionProof(leaves, (half + i) % size))),
      ),
      'compute root from leaf hashes': median(Array.from({ length: 5 }, () => perCall(3, () => rootOf(leaves)))),
    };
    console.log(`  log of ${size} entries (inclusion path ${inc.length} hashes, consistency ${cons.length})`);
    for (const [label, us] of Object.entries(rows)) console.log(`    ${label.padEnd(42)} ${us.toFixed(1).padStart(10)} µs`);
  }
}

async function pushes(): Promise<void> {
  const reg = await startBenchRegistry('gantry-bench-tlog-');
  const host = reg.host;
  try {
    const signer = parseSignerKey(generateNoteKey('bench-log').signerKey);
    const issuerSeed = generateSeed('account');
    const subjectSeed = generateSeed('service');
    const archive = (revision: number) =>
      createPar({
        name: 'bench',
        vendor: 'gantry',
        capid: 'bench:log',
        version: `0.${revision}.0`,
        revision,
        issuerSeed,
        subjectSeed,
        binaries: { 'x86_64-linux': randomBytes(256 * 1024) },
        format: 'tar',
      });
    const opts = { plainHttpRegistries: [host] };
    const seqRef = `${host}/bench/sequenced`;
    const seqBackend = openContentBackend(seqRef, opts);
    const server = await listenSequencer('127.0.0.1', 0);
    const lease = await takeLease(seqBackend, { url: server.url, waitMs: 0 });
    server.serve(
      new Sequencer(
        signer,
        [{ ref: seqRef, store: openArchiveStore(seqRef, opts), backend: seqBackend, lease }],
        [publicKeyFromSeed(issuerSeed)],
      ),
    );
    const rows: Record<string, number[]> = { plain: [], log1000: [], log200: [], sequencer: [] };
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // interleaved, one fresh repository per variant; revision = round + 1 so logs grow
        const bytes = await archive(round + 1);
        const plain = openArchiveStore(`${host}/bench/plain`, opts);
        rows.plain.push(await time(() => plain.push(bytes)));
        for (const [row, deltaMs] of [
          ['log1000', 1000],
          ['log200', 200],
        ] as const) {
          const ref = `${host}/bench/${row}`;
          const store = openArchiveStore(ref, opts);
          const backend = openContentBackend(ref, opts);
          rows[row].push(await time(async () => appendToLog(backend, logEntryOf(await store.push(bytes)), { signer, deltaMs })));
        }
        const seqStore = openArchiveStore(seqRef, opts);
        rows.sequencer.push(
          await time(async () => {
            const pushed = await seqStore.push(bytes);
            await requestAppend(server.url, { repository: seqRef, revision: pushed.revision, digest: pushed.digest });
          }),
        );
      }
    } finally {
      await server.close();
    }
    const p = median(rows.plain);
    console.log(`\npush of a 256 KiB archive over loopback, median of ${ROUNDS} rounds (logs grow to ${ROUNDS} entries)`);
    console.log(`  ${'plain push (verify + upload + tag)'.padEnd(46)} ${p.toFixed(0).padStart(6)} ms`);
    for (const [row, deltaMs] of [
      ['log1000', 1000],
      ['log200', 200],
    ] as const) {
      const m = median(rows[row]);
      const wait = deltaMs * 1.5;
      console.log(
        `  ${`push + append (Fischer), Δ=${deltaMs} ms (wait D=${wait} ms)`.padEnd(46)} ${m.toFixed(0).padStart(6)} ms   overhead ${(m - p).toFixed(0).padStart(5)} ms, of which log requests ${(m - p - wait).toFixed(0).padStart(4)} ms   ratio ${(m / p).toFixed(1)}×`,
      );
    }
    const q = median(rows.sequencer);
    console.log(
      `  ${'push + append via sequencer'.padEnd(46)} ${q.toFixed(0).padStart(6)} ms   overhead ${(q - p).toFixed(0).padStart(5)} ms (goal ≤ 200 ms: ${q - p <= 200 ? 'met' : 'NOT met'})   ratio ${(q / p).toFixed(1)}×`,
    );
  } finally {
    await reg.stop();
  }
}

/** `--scale 1000,100000` runs the scale line at those sizes only (default 1,000, 100,000 and 1,000,000). */
function scaleSizes(): number[] {
  const i = process.argv.indexOf('--scale');
  return i > 0 ? process.argv[i + 1].split(',').map(Number) : [1_000, 100_000, 1_000_000];
}

proofs();
await tilesInMemory();
await pushes();
const scaleRegistry = await startBenchRegistry('gantry-bench-tlog-scale-');
try {
  await scaleLine(scaleRegistry.host, scaleSizes());
} finally {
  await scaleRegistry.stop();
}
