/**
 * What the controller's transparency-log check costs (controller/log-witness.ts), beside the
 * plain resolve it follows, on a real docker-registry in the same run: a repository with N
 * published revisions, all logged and checkpointed. Prints, as medians:
 *   - resolve      : the registry resolve of one revision (config blob), what every resolve does
 *   - check, cold  : open the log (tag list + one manifest GET per entry) and check the revision
 *                    (signature, root, consistency with an earlier checkpoint, inclusion)
 *   - check, warm  : the same with the log cached (what most reconciles pay)
 * and the ratio of each check to the resolve.
 *
 *   npm run build && node dist/bench/log-witness.js [--entries N] [--runs N]
 */
import { createPar, generateSeed, publicKeyFromSeed } from '../par/index.js';
import { startBenchRegistry } from './local-registry.js';
import { DistributionClient, openArchiveStore } from '../registry/index.js';
import { checkpointLog, encodeBase64, generateNoteKey, parseSignerKey, rootOf, openLog, storeEntry } from '../tlog/index.js';
import { RegistryLogWitness } from '../controller/providers/archive/log-witness.js';
import { medianMs } from './timing.js';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Math.max(1, Number(process.argv[i + 1])) : d;
};
const ENTRIES = arg('--entries', 50);
const RUNS = arg('--runs', 7);

const reg = await startBenchRegistry('gantry-bench-log-');
const host = reg.host;
try {
  const ref = `${host}/bench/kv`;
  const store = openArchiveStore(ref, { plainHttpRegistries: [host] });
  const backend = new DistributionClient(host, 'bench/kv', { plainHttpHosts: [host] });
  const issuerSeed = generateSeed('account');
  const subjectSeed = generateSeed('service');
  const key = generateNoteKey('bench-log');
  const signer = parseSignerKey(key.signerKey);
  const resolved = [];
  for (let r = 1; r <= ENTRIES; r++) {
    const par = await createPar({
      name: 'kv',
      vendor: 'bench',
      capid: 'wascap:keyvalue',
      version: `1.${r}.0`,
      revision: r,
      issuerSeed,
      subjectSeed,
      binaries: { 'x86_64-linux': new TextEncoder().encode(`binary ${r}`) },
    });
    const pushed = await store.push(par);
    resolved.push(pushed);
    // entries written directly (the bench measures reading; appending is bench/tlog's)
    await storeEntry(backend, r - 1, {
      revision: r,
      digest: pushed.digest,
      issuer: publicKeyFromSeed(issuerSeed),
      subject: publicKeyFromSeed(subjectSeed),
      capid: 'wascap:keyvalue',
      version: `1.${r}.0`,
    });
  }
  await checkpointLog(backend, { signer });
  const log = await openLog(backend);
  const earlier = { origin: ref, size: Math.floor(ENTRIES / 2), rootHash: encodeBase64(rootOf(log.leafHashes, Math.floor(ENTRIES / 2))) };
  const last = resolved.at(-1)!;
  const target = {
    revision: last.revision,
    digest: last.digest,
    issuer: last.summary.issuer,
    subject: last.summary.subject,
    capid: last.summary.capid,
    version: last.summary.version,
    targets: ['x86_64-linux'],
  };
  const check = (w: RegistryLogWitness) => w.check({ ref, origin: ref, resolved: target, previous: earlier, required: true });

  const resolveMs = await medianMs(RUNS, () => store.resolve(last.revision));
  const coldMs = await medianMs(RUNS, () =>
    check(new RegistryLogWitness({ verifierKeys: [key.verifierKey], plainHttpRegistries: [host], recheckMs: 0 })),
  );
  const warm = new RegistryLogWitness({ verifierKeys: [key.verifierKey], plainHttpRegistries: [host], recheckMs: 3_600_000 });
  const warmMs = await medianMs(RUNS, () => check(warm));
  console.log(`log of ${ENTRIES} entries, ${RUNS} runs, medians:`);
  console.log(`  resolve one revision (registry)   ${resolveMs.toFixed(2)} ms`);
  console.log(`  log check, cold (read + verify)   ${coldMs.toFixed(2)} ms   ×${(coldMs / resolveMs).toFixed(1)} a resolve`);
  console.log(`  log check, warm (cached log)      ${warmMs.toFixed(3)} ms   ×${(warmMs / resolveMs).toFixed(3)} a resolve`);
} finally {
  await reg.stop();
}
