/**
 * What trusting only the signed claims costs a listing (issue 36): `revisions()` on a
 * repository of 50 revisions, cold (a fresh store: one manifest and one config GET per tag, and
 * now one claims-JWT verification per revision), beside the same GETs with the config only
 * parsed — the listing as it was before — in the same run, interleaved round by round. Also the
 * verification alone: 50 configs checked by verifiedSummaryOfConfig against 50 parsed.
 * Run: `npm run build && node dist/bench/registry-listing.js`.
 */
import { createPar, generateSeed } from '../par/index.js';
import { startBenchRegistry } from './local-registry.js';
import { median } from './timing.js';

// 50 pushes would log 50 lines: the registry's logger reads its level when first imported
process.env.GANTRY_LOG_LEVEL ??= 'warn';
const { DistributionClient, openArchiveStore } = await import('../registry/index.js');
const { parseConfig, verifiedSummaryOfConfig } = await import('../registry/summary.js');

const REVISIONS = 50;
const ROUNDS = 7;
const CONCURRENCY = 8;

async function ms(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function main(): Promise<void> {
  const reg = await startBenchRegistry('gantry-bench-listing-');
  try {
    const repo = 'bench/listing';
    const ref = `${reg.host}/${repo}`;
    const issuerSeed = generateSeed('account');
    const subjectSeed = generateSeed('service');
    const store = openArchiveStore(ref, { plainHttpRegistries: [reg.host] });
    for (let revision = 1; revision <= REVISIONS; revision++) {
      const archive = await createPar({
        name: 'Bench KV',
        vendor: 'bench',
        capid: 'wascap:keyvalue',
        version: `1.${revision}.0`,
        revision,
        issuerSeed,
        subjectSeed,
        binaries: { 'x86_64-linux': Buffer.from(`linux ${revision}`), 'aarch64-linux': Buffer.from(`arm ${revision}`) },
        format: 'tar.gz',
      });
      await store.push(archive);
    }
    const client = () => new DistributionClient(reg.host, repo, { plainHttpHosts: [reg.host] });
    // the listing before issue 36: the same GETs, the config parsed and trusted as it stood
    const parsedOnly = async () => {
      const c = client();
      const tags = (await c.listTags()).filter((t) => t.startsWith('rev-'));
      for (let i = 0; i < tags.length; i += CONCURRENCY) {
        await Promise.all(
          tags.slice(i, i + CONCURRENCY).map(async (t) => {
            const m = (await c.getManifest(t))!;
            const config = JSON.parse(Buffer.from(m.bytes).toString()).config;
            return parseConfig(await c.getBlob(config.digest, config.size), t);
          }),
        );
      }
    };
    const verifiedListing = () => openArchiveStore(ref, { plainHttpRegistries: [reg.host] }).revisions();
    const rows = { before: [] as number[], after: [] as number[], parse: [] as number[], verify: [] as number[] };
    const c = client();
    const configs = await Promise.all(
      (await c.listTags())
        .filter((t) => t.startsWith('rev-'))
        .map(async (t) => {
          const config = JSON.parse(Buffer.from((await c.getManifest(t))!.bytes).toString()).config;
          return c.getBlob(config.digest, config.size);
        }),
    );
    await parsedOnly();
    await verifiedListing();
    for (let round = 0; round < ROUNDS; round++) {
      rows.before.push(await ms(parsedOnly));
      rows.after.push(await ms(verifiedListing));
      rows.parse.push(await ms(() => configs.map((b, i) => parseConfig(b, String(i)))));
      rows.verify.push(await ms(() => configs.map((b, i) => verifiedSummaryOfConfig(parseConfig(b, String(i)), String(i)))));
    }
    const [before, after, parse, verify] = [rows.before, rows.after, rows.parse, rows.verify].map(median);
    console.log(`revisions() of ${REVISIONS} revisions, cold, median of ${ROUNDS} rounds over loopback:`);
    console.log(`  config parsed only (before)   ${before.toFixed(1)} ms`);
    console.log(`  claims verified (after)       ${after.toFixed(1)} ms   ratio ${(after / before).toFixed(2)}`);
    console.log(`the ${REVISIONS} configs alone, in memory:`);
    console.log(`  parsed                        ${parse.toFixed(2)} ms`);
    console.log(`  parsed + verified             ${verify.toFixed(2)} ms   (${((verify - parse) / REVISIONS).toFixed(3)} ms a revision)`);
  } finally {
    await reg.stop();
  }
}

await main();
