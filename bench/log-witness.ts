/**
 * What reading a repository's transparency log costs, the old way (one manifest GET per entry,
 * proofs from every leaf) against tiles (issue 34: O(log n) tiles a proof), on the same
 * entries in one run, on a real docker-registry: for each log size a repository holding the
 * log untiled (entry tags and checkpoint tags, as logs were before tiles) and one holding it
 * as tiles. Prints, as medians with the registry requests of one run:
 *   - resolve            : the registry resolve of one revision (config blob), what every resolve does
 *   - witness check, cold: the controller's check of the newest revision (controller/…/log-witness.ts),
 *                          a fresh witness each run (nothing cached), consistent with an earlier checkpoint
 *   - gantry log proof   : the CLI's inclusion proof of the newest revision (cli/log-reader.ts), no tile cache
 *
 *   npm run build && node dist/bench/log-witness.js [--entries N,N…] [--runs N]
 */
import { createPar, generateSeed, publicKeyFromSeed } from '../par/index.js';
import { startBenchRegistry } from './local-registry.js';
import { DistributionClient, openArchiveStore, openContentBackend, type ContentBackend } from '../registry/index.js';
import {
  encodeBase64,
  encodeEntry,
  formatCheckpoint,
  generateNoteKey,
  leafHash,
  parseSignerKey,
  parseTrustedLogKey,
  openTiledLog,
  registryTileSource,
  rootOf,
  signNote,
  storeCheckpointNote,
  storeEntry,
  tiles,
  type LogEntry,
} from '../tlog/index.js';
import { entryManifest } from '../tlog/log/artifact.js';
import { LATEST_CHECKPOINT_TAG, revisionTag } from '../tlog/log/layout.js';
import { putArtifactBlobs } from '../tlog/log/store.js';
import { storeTiles } from '../tlog/log/tiles-store.js';
import { RegistryLogWitness } from '../controller/providers/archive/log-witness.js';
import { medianMs } from './timing.js';

const argOf = (name: string, d: string): string => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : d;
};
const SIZES = argOf('--entries', '50,1000')
  .split(',')
  .map((n) => Math.max(2, Number(n)));
const RUNS = Math.max(1, Number(argOf('--runs', '5')));

/** Counts every registry request a backend makes (manifest and blob reads, tag lists). */
function counted(b: ContentBackend, count: { n: number }): ContentBackend {
  const wrap =
    <A extends unknown[], R>(f: (...a: A) => Promise<R>) =>
    (...a: A) => {
      count.n++;
      return f.apply(b, a);
    };
  return Object.assign(Object.create(b) as ContentBackend, {
    listTags: wrap(b.listTags),
    getManifest: wrap(b.getManifest),
    getBlob: wrap(b.getBlob),
  });
}

const reg = await startBenchRegistry('gantry-bench-log-');
const host = reg.host;
try {
  const key = generateNoteKey(host);
  const signer = parseSignerKey(key.signerKey);
  const issuerSeed = generateSeed('account');
  const subjectSeed = generateSeed('service');
  console.log(`transparency-log readers, old way (entry tags) vs tiles, ${RUNS} runs, medians (requests of one run):`);
  for (const size of SIZES) {
    const repos = { old: `bench/old-${size}`, tiles: `bench/tiles-${size}` };
    // the newest revision is a real archive (resolved and checked); the ones before it stand-ins
    const pushed = await Promise.all(
      Object.values(repos).map(async (repo) =>
        openArchiveStore(`${host}/${repo}`, { plainHttpRegistries: [host] }).push(
          await createPar({
            name: 'kv',
            vendor: 'bench',
            capid: 'wascap:keyvalue',
            version: `1.${size}.0`,
            revision: size,
            issuerSeed,
            subjectSeed,
            binaries: { 'x86_64-linux': new TextEncoder().encode(`binary ${size}`) },
          }),
        ),
      ),
    );
    const entries: LogEntry[] = Array.from({ length: size }, (_, i) => ({
      revision: i + 1,
      digest: i + 1 === size ? pushed[0].digest : `sha256:${(i + 1).toString(16).padStart(64, '0')}`,
      issuer: publicKeyFromSeed(issuerSeed),
      subject: publicKeyFromSeed(subjectSeed),
      capid: 'wascap:keyvalue',
      version: `1.${i + 1}.0`,
    }));
    const leaves = entries.map((e) => leafHash(encodeEntry(e)));
    const half = Math.floor(size / 2);
    const logs: Record<'old' | 'tiles', { ref: string; earlier: { origin: string; size: number; rootHash: string } }> = {} as never;
    for (const [kind, repo] of Object.entries(repos) as ['old' | 'tiles', string][]) {
      const b = new DistributionClient(host, repo, { plainHttpHosts: [host] });
      const ref = `${host}/${repo}`;
      const note = signNote(formatCheckpoint({ origin: ref, size, root: rootOf(leaves), extensions: [] }), [signer]);
      if (kind === 'old') {
        for (const [i, e] of entries.entries()) await storeEntry(b, i, e);
        await storeCheckpointNote(b, size, note);
      } else {
        const grown = await tiles.growTiles(undefined, 0, entries.map(encodeEntry));
        await storeTiles(b, grown.writes);
        const last = entries.at(-1)!;
        await putArtifactBlobs(b, encodeEntry(last));
        await b.putManifest(
          revisionTag(last.revision),
          entryManifest(size - 1, encodeEntry(last)),
          'application/vnd.oci.image.manifest.v1+json',
        );
        await storeCheckpointNote(b, size, note);
        await b.putManifest(
          LATEST_CHECKPOINT_TAG,
          (await b.getManifest(`tlog.checkpoint.${size}`))!.bytes,
          'application/vnd.oci.image.manifest.v1+json',
        );
      }
      logs[kind] = { ref, earlier: { origin: ref, size: half, rootHash: encodeBase64(rootOf(leaves, half)) } };
    }
    const last = pushed[0];
    const target = {
      revision: size,
      digest: last.digest,
      issuer: last.summary.issuer,
      subject: last.summary.subject,
      capid: last.summary.capid,
      version: last.summary.version,
      targets: ['x86_64-linux'],
    };
    const store = openArchiveStore(`${host}/${repos.old}`, { plainHttpRegistries: [host] });
    const resolveMs = await medianMs(RUNS, () => store.resolve(size));
    const row = async (kind: 'old' | 'tiles') => {
      const { ref, earlier } = logs[kind];
      const count = { n: 0 };
      const openBackend: typeof openContentBackend = (r, o) => counted(openContentBackend(r, o), count);
      const witness = () =>
        new RegistryLogWitness({ verifierKeys: [key.verifierKey], plainHttpRegistries: [host], recheckMs: 0, openBackend }).check({
          ref,
          origin: ref,
          resolved: target,
          previous: earlier,
          required: true,
        });
      await witness();
      const witnessRequests = count.n;
      const witnessMs = await medianMs(RUNS, witness);
      count.n = 0;
      // what gantry log inclusion does (cli/log-reader.ts), without the CLI's tile cache
      const prove = async () => {
        const backend = counted(openContentBackend(ref, { plainHttpRegistries: [host] }), count);
        const l = await openTiledLog(backend, { tiles: registryTileSource(backend) });
        const cp = (await l.latestCheckpoint([parseTrustedLogKey(key.verifierKey)])).checkpoint;
        const found = await l.findRevision(size, cp);
        await l.tree(cp).inclusionProof(found!.index);
      };
      await prove();
      const proofRequests = count.n;
      const proofMs = await medianMs(RUNS, prove);
      return { witnessMs, witnessRequests, proofMs, proofRequests };
    };
    const old = await row('old');
    const tiled = await row('tiles');
    const line = (what: string, a: number, ar: number, b: number, br: number) =>
      console.log(
        `  ${String(size).padStart(7)} entries  ${what.padEnd(22)} old ${a.toFixed(1).padStart(8)} ms (${String(ar).padStart(5)} req)   tiles ${b.toFixed(1).padStart(7)} ms (${String(br).padStart(3)} req)   ×${(a / b).toFixed(1)} faster`,
      );
    console.log(`  ${String(size).padStart(7)} entries  resolve one revision    ${resolveMs.toFixed(2)} ms`);
    line('witness check, cold', old.witnessMs, old.witnessRequests, tiled.witnessMs, tiled.witnessRequests);
    line('gantry log inclusion', old.proofMs, old.proofRequests, tiled.proofMs, tiled.proofRequests);
  }
} finally {
  await reg.stop();
}
