/**
 * Registry throughput: push and pull of a 64 MiB signed archive over loopback through the
 * archive store (verification included) and through the bare distribution client, each beside
 * `curl` moving the same bytes to the same docker-registry in the same run. Prints ratios
 * (ours / curl; 1.0 = as fast as curl) against two baselines for pulls: curl to /dev/null, and
 * curl piped into sha256sum (a digest-checked download, as ours always is); plus this process's
 * CPU time per transfer, the steadier figure on a shared machine. Variants run interleaved,
 * round by round. Run: `npm run build && node dist/bench/registry.js`.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createPar, generateSeed } from '../par/index.js';
import { requireExecutable } from '../runtime/host.js';
import { startBenchRegistry } from './local-registry.js';
import { openArchiveStore, DistributionClient } from '../registry/index.js';
import { sha256Digest } from '../registry/digest.js';
import { median } from './timing.js';

const MiB = 1024 * 1024;
const ROUNDS = 5;

/** this process's CPU seconds per measurement, by row: steadier than wall time on a shared machine */
const cpu = new Map<number[], number[]>();

async function time(fn: () => Promise<unknown> | unknown, row?: number[]): Promise<number> {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  if (row) cpu.set(row, [...(cpu.get(row) ?? []), (c.user + c.system) / 1e6]);
  return wall;
}

type Rows = Record<'curlPush' | 'storePush' | 'clientPush' | 'curlPull' | 'curlHashPull' | 'storePull' | 'clientPull', number[]>;

/** The archive as pushed: its bytes, a file of them for curl, and their digest. */
interface Payload {
  host: string;
  archive: Uint8Array;
  file: string;
  digest: string;
  curl: string;
}

/** A blob upload with curl: POST for an upload URL, then one monolithic PUT of the file. */
function curlPush(p: Payload, repo: string): void {
  const { curl, host, digest, file } = p;
  const headers = execFileSync(curl, [
    '-sS',
    '-X',
    'POST',
    '-D',
    '-',
    '-o',
    '/dev/null',
    `http://${host}/v2/${repo}/blobs/uploads/`,
  ]).toString();
  const loc = new URL(/^location:\s*(\S+)/im.exec(headers)![1], `http://${host}`);
  loc.searchParams.set('digest', digest);
  execFileSync(curl, [
    '-sS',
    '-f',
    '-X',
    'PUT',
    '-H',
    'Content-Type: application/octet-stream',
    '--data-binary',
    `@${file}`,
    '-o',
    '/dev/null',
    loc.toString(),
  ]);
}

/** One round: each variant pushes to its own repository, then pulls back. */
async function measureRound(rows: Rows, p: Payload, round: number): Promise<void> {
  const { host, archive, digest, curl } = p;
  const size = archive.length;
  const repoCurl = `bench/curl${round}`;
  rows.curlPush.push(await time(() => curlPush(p, repoCurl)));
  const store = openArchiveStore(`${host}/bench/store${round}`, { plainHttpRegistries: [host] });
  let pushedDigest = '';
  rows.storePush.push(await time(async () => (pushedDigest = (await store.push(archive)).digest), rows.storePush));
  const client = new DistributionClient(host, `bench/client${round}`, { plainHttpHosts: [host] });
  rows.clientPush.push(await time(() => client.putBlob(digest, archive), rows.clientPush));

  rows.curlPull.push(
    await time(() => execFileSync(curl, ['-sS', '-f', '-o', '/dev/null', `http://${host}/v2/${repoCurl}/blobs/${digest}`])),
  );
  // the same download with its digest checked, as ours is: curl piped into sha256sum
  rows.curlHashPull.push(
    await time(() => execFileSync('sh', ['-c', `${curl} -sS -f http://${host}/v2/${repoCurl}/blobs/${digest} | sha256sum`])),
  );
  rows.storePull.push(await time(() => store.pull(pushedDigest), rows.storePull));
  rows.clientPull.push(await time(() => client.getBlob(digest, size), rows.clientPull));
}

function printRows(rows: Rows, size: number): void {
  const rate = (s: number[]) => size / MiB / median(s);
  const line = (label: string, ours: number[], base: number[]) =>
    console.log(
      `  ${label.padEnd(44)} ${rate(ours).toFixed(0).padStart(5)} MiB/s   baseline ${rate(base).toFixed(0).padStart(5)} MiB/s   ratio ${(median(base) / median(ours)).toFixed(2)}   our CPU ${(median(cpu.get(ours) ?? [0]) * 1000).toFixed(0).padStart(4)} ms`,
    );
  console.log(
    `registry throughput, ${(size / MiB).toFixed(1)} MiB archive over loopback, median of ${ROUNDS} (ratio = ours / curl, aim >= 0.8)`,
  );
  line('push: archive store (verify + upload)', rows.storePush, rows.curlPush);
  line('push: distribution client (upload)', rows.clientPush, rows.curlPush);
  line('pull: archive store (download + verify)', rows.storePull, rows.curlPull);
  line('pull: distribution client (digest-checked)', rows.clientPull, rows.curlPull);
  console.log('against curl | sha256sum (a digest-checked download, as ours):');
  line('pull: archive store (download + verify)', rows.storePull, rows.curlHashPull);
  line('pull: distribution client (digest-checked)', rows.clientPull, rows.curlHashPull);
}

async function main(): Promise<void> {
  const reg = await startBenchRegistry('gantry-bench-registry-');
  try {
    const archive = await createPar({
      name: 'bench',
      vendor: 'gantry',
      revision: 1,
      issuerSeed: generateSeed('account'),
      subjectSeed: generateSeed('service'),
      binaries: { 'x86_64-linux': randomBytes(64 * MiB) },
      format: 'tar',
    });
    const file = join(reg.dir, 'archive.par');
    writeFileSync(file, archive);
    const payload: Payload = { host: reg.host, archive, file, digest: sha256Digest(archive), curl: requireExecutable('curl', 'curl') };
    const rows: Rows = { curlPush: [], storePush: [], clientPush: [], curlPull: [], curlHashPull: [], storePull: [], clientPull: [] };
    for (let round = 0; round < ROUNDS; round++) await measureRound(rows, payload, round);
    printRows(rows, archive.length);
  } finally {
    await reg.stop();
  }
}

await main();
