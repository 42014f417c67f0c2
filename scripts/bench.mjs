// Runs every benchmark in dist/bench/ (or those named on the command line, e.g. `npm run bench -- par-verify`)
// one after another, so their side-by-side ratios are printed in one report.
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'bench');
const wanted = process.argv.slice(2);
const all = readdirSync(dir)
  .filter((f) => f.endsWith('.js'))
  .map((f) => f.slice(0, -3))
  .sort();
const names = wanted.length ? wanted : all;
let failed = 0;
for (const name of names) {
  if (!all.includes(name)) {
    console.error(`bench: no benchmark named ${name} (have: ${all.join(', ')})`);
    failed++;
    continue;
  }
  console.log(`\n=== bench/${name}`);
  // the report is the point: components' info logs only interleave with it
  const env = { ...process.env, GANTRY_LOG_LEVEL: process.env.GANTRY_LOG_LEVEL || 'warn' };
  const r = spawnSync(process.execPath, [join(dir, name + '.js')], { stdio: 'inherit', env });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
