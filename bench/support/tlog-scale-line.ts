/**
 * bench/tlog's scale line: logs of 1,000, 100,000 and 1,000,000 entries generated as tiles
 * (tlog-scale.ts) in a real docker-registry over loopback, and on each — uncached, every HTTP
 * request counted at the registry client's transport — an append, an inclusion proof fetched and
 * verified, a consistency proof, and the controller's witness check of a newly appended
 * revision. Beside them, in the same run, a 1,000-entry log written the old way (entry tags
 * only) read the old way: what the same checks cost before tiles.
 */
import { type ContentBackend, DistributionClient, openContentBackend } from '../../registry/index.js';
import { RegistryLogWitness } from '../../controller/providers/archive/log-witness.js';
import {
  appendToLog,
  encodeBase64,
  encodeEntry,
  formatCheckpoint,
  generateNoteKey,
  leafHash,
  openTiledLog,
  parseSignerKey,
  parseVerifierKey,
  rootOf,
  signNote,
  storeCheckpointNote,
  storeEntry,
  verifyConsistency,
  verifyInclusion,
} from '../../tlog/index.js';
import { generateTiledLog, scaleEntry } from './tlog-scale.js';

interface Row {
  label: string;
  ms: number;
  requests: number;
}

/** Counts the HTTP requests a backend's transport sends (DistributionClient), from now on. */
function counted<B extends ContentBackend>(b: B, counter: { n: number }): B {
  const t = (b as unknown as DistributionClient).transport;
  if (t) {
    const send = t.send.bind(t);
    t.send = (...args: Parameters<typeof send>) => {
      counter.n++;
      return send(...args);
    };
  }
  return b;
}

async function measure(label: string, fn: (counter: { n: number }) => Promise<unknown>): Promise<Row> {
  const counter = { n: 0 };
  const t0 = performance.now();
  await fn(counter);
  return { label, ms: performance.now() - t0, requests: counter.n };
}

function print(title: string, rows: Row[]): void {
  console.log(`  ${title}`);
  for (const r of rows)
    console.log(`    ${r.label.padEnd(58)} ${r.ms.toFixed(1).padStart(9)} ms ${String(r.requests).padStart(6)} requests`);
}

/** The four operations on a log of `size` entries at `repo`, whose checkpoint of `size` the reader trusts. */
async function operations(
  host: string,
  repo: string,
  size: number,
  trusted: { size: number; root: Uint8Array },
  key: ReturnType<typeof generateNoteKey>,
) {
  const signer = parseSignerKey(key.signerKey);
  const verifier = [parseVerifierKey(key.verifierKey)];
  const ref = `${host}/${repo}`;
  const origin = ref;
  const client = (n: { n: number }) => counted(new DistributionClient(host, repo, { plainHttpHosts: [host] }), n);
  const fresh = scaleEntry(size);
  const rows: Row[] = [];
  rows.push(await measure('append (Δ=200 ms, wait D=300 ms)', (n) => appendToLog(client(n), fresh, { signer, deltaMs: 200, waitMs: 300 })));
  const mid = Math.floor(size / 2);
  rows.push(
    await measure(`inclusion proof of entry ${mid}, fetched + verified`, async (n) => {
      const log = await openTiledLog(client(n), { origin });
      const cp = (await log.latestCheckpoint(verifier)).checkpoint;
      const found = (await log.findRevision(mid + 1, cp))!;
      const proof = await log.tree(cp).inclusionProof(found.index);
      verifyInclusion(leafHash(encodeEntry(found.entry)), found.index, cp.size, proof, cp.root);
    }),
  );
  rows.push(
    await measure(`consistency proof ${size} → ${size + 1}, fetched + verified`, async (n) => {
      const log = await openTiledLog(client(n), { origin });
      const cp = (await log.latestCheckpoint(verifier)).checkpoint;
      verifyConsistency(trusted.size, cp.size, await log.tree(cp).consistencyProof(trusted.size), trusted.root, cp.root);
    }),
  );
  rows.push(
    await measure('witness check of the new revision, uncached', (n) => witnessCheck(host, ref, key.verifierKey, fresh, trusted, n)),
  );
  return rows;
}

async function witnessCheck(
  host: string,
  ref: string,
  verifierKey: string,
  e: ReturnType<typeof scaleEntry>,
  trusted: { size: number; root: Uint8Array },
  n: { n: number },
) {
  const w = new RegistryLogWitness({
    verifierKeys: [`${host}/=${verifierKey}`],
    plainHttpRegistries: [host],
    recheckMs: 0,
    openBackend: (r, o) => counted(openContentBackend(r, o), n),
  });
  await w.check({
    ref,
    origin: ref,
    resolved: { ...e, targets: ['x86_64-linux'] },
    previous: { origin: ref, size: trusted.size, rootHash: encodeBase64(trusted.root) },
    required: true,
  });
}

/** A log of `size` entries written the old way (entry tags and a checkpoint, no tiles), and the witness check on it. */
async function oldWay(host: string, size: number, key: ReturnType<typeof generateNoteKey>): Promise<Row[]> {
  const repo = `scale/old-${size}`;
  const ref = `${host}/${repo}`;
  const b = new DistributionClient(host, repo, { plainHttpHosts: [host] });
  const entries = Array.from({ length: size }, (_, i) => scaleEntry(i));
  for (let i = 0; i < size; i += 16) await Promise.all(entries.slice(i, i + 16).map((e, j) => storeEntry(b, i + j, e)));
  const leaves = entries.map((e) => leafHash(encodeEntry(e)));
  const half = { size: size - 1, root: rootOf(leaves, size - 1) };
  const signer = parseSignerKey(key.signerKey);
  await storeCheckpointNote(b, size, signNote(formatCheckpoint({ origin: ref, size, root: rootOf(leaves), extensions: [] }), [signer]));
  return [
    await measure('witness check of the latest revision, uncached', (n) =>
      witnessCheck(host, ref, key.verifierKey, entries[size - 1], half, n),
    ),
    await measure('first append (migrates: tiles for the whole log)', (n) =>
      appendToLog(counted(new DistributionClient(host, repo, { plainHttpHosts: [host] }), n), scaleEntry(size), {
        signer,
        deltaMs: 200,
        waitMs: 300,
      }),
    ),
  ];
}

export async function scaleLine(host: string, sizes: readonly number[]): Promise<void> {
  const key = generateNoteKey('bench-scale');
  console.log(
    '\nscale: logs generated as tiles in a real docker-registry over loopback; each operation uncached, its HTTP requests counted',
  );
  print(`before: a log of 1000 entries stored and read the old way (entry tags)`, await oldWay(host, 1000, key));
  for (const size of sizes) {
    const repo = `scale/tiled-${size}`;
    const b = new DistributionClient(host, repo, { plainHttpHosts: [host] });
    const t0 = performance.now();
    const log = await generateTiledLog(b, {
      size,
      signer: parseSignerKey(key.signerKey),
      origin: `${host}/${repo}`,
      indexed: [Math.floor(size / 2)],
    });
    const setup = ((performance.now() - t0) / 1000).toFixed(1);
    print(`after: a log of ${size} entries as tiles (generated and stored in ${setup} s)`, await operations(host, repo, size, log, key));
  }
}
