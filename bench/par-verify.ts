/**
 * Verification throughput: read + verify a PAR holding a 64 MiB binary (signature, issuer,
 * every hash), beside `sha256sum` over the same 64 MiB in the same run. The ratio is
 * verify MB/s ÷ sha256sum MB/s (aim: ≥ 0.8 for the default zip). The binary is the first
 * 64 MiB of the node executable, so it compresses like a real native library.
 *
 *   npm run build && node dist/bench/par-verify.js [--runs N]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPar, generateSeed, verifyPar, type ParFormat } from '../par/index.js';
import { medianMs } from './timing.js';

const SIZE = 64 * 1024 * 1024;
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Math.max(1, Number(process.argv[runsArg + 1])) : 5;

function realisticBinary(): Uint8Array {
  const exe = readFileSync(process.execPath);
  const out = new Uint8Array(SIZE);
  for (let off = 0; off < SIZE; off += exe.length) out.set(exe.subarray(0, Math.min(exe.length, SIZE - off)), off);
  return out;
}

const mbps = (bytes: number, ms: number): number => bytes / (1024 * 1024) / (ms / 1000);

const dir = mkdtempSync(join(tmpdir(), 'gantry-bench-'));
try {
  const binary = realisticBinary();
  const binFile = join(dir, 'x86_64-linux.bin');
  writeFileSync(binFile, binary);

  const shaMs = await medianMs(RUNS, () => execFileSync('sha256sum', [binFile]));
  const shaRate = mbps(SIZE, shaMs);

  const issuerSeed = generateSeed('account');
  const subjectSeed = generateSeed('service');
  const rows: { label: string; archiveBytes: number; ms: number }[] = [];
  for (const format of ['zip', 'tar', 'tar.gz'] as ParFormat[]) {
    const archive = await createPar({
      name: 'bench',
      vendor: 'gantry',
      revision: 1,
      issuerSeed,
      subjectSeed,
      binaries: { 'x86_64-linux': binary },
      format,
    });
    const file = join(dir, `bench.${format}`);
    writeFileSync(file, archive);
    const ms = await medianMs(RUNS, async () => verifyPar(readFileSync(file)));
    rows.push({ label: `read + verifyPar (${format})`, archiveBytes: archive.length, ms });
    if (format === 'zip') {
      const t = await medianMs(RUNS, async () => verifyPar(readFileSync(file), { target: 'x86_64-linux' }));
      rows.push({ label: `read + verifyPar (${format}, --target)`, archiveBytes: archive.length, ms: t });
    }
  }

  const line = (label: string, archive: string, ms: number): string => {
    const rate = mbps(SIZE, ms);
    return `${label.padEnd(36)} ${archive.padStart(12)} ${ms.toFixed(1).padStart(9)} ms ${rate.toFixed(0).padStart(7)} MB/s   ratio ${(rate / shaRate).toFixed(2)}`;
  };
  process.stdout.write(`PAR verification vs sha256sum: ${SIZE} bytes of binary (64 MiB), median of ${RUNS} runs after a warm-up\n`);
  process.stdout.write(`${'what'.padEnd(36)} ${'file bytes'.padStart(12)} ${'time'.padStart(12)} ${'MB/s'.padStart(12)}\n`);
  process.stdout.write(line('sha256sum (baseline)', String(SIZE), shaMs) + '\n');
  for (const r of rows) process.stdout.write(line(r.label, String(r.archiveBytes), r.ms) + '\n');
  const headline = rows[0];
  process.stdout.write(`\nheadline (default zip): ${(mbps(SIZE, headline.ms) / shaRate).toFixed(2)} × sha256sum (aim ≥ 0.80)\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
