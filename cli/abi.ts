/**
 * `gantry abi check LIB.so [--capid ID] [--config JSON] [--op OP[=PAYLOAD]]… [--json]` — run the
 * provider ABI v1 conformance suite (agent/host/abi-check.ts) against a library, loaded as a
 * provider host loads it. Prints one line per check, or one JSON report with `--json`; exits 0
 * only when every check passes, 1 when one fails, 2 on usage errors. docs/abi.md lists the checks.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { runAbiCheck, type AbiCheckReport } from '../agent/host/abi-check.js';
import { collect, parseDuration } from './options.js';

const usage = (message: string) => Object.assign(new Error(`abi check: ${message}`), { exitCode: 2 });

function parseConfig(text: string | undefined): Record<string, unknown> {
  if (text === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw usage(`--config is not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw usage('--config must be a JSON object, e.g. \'{"prefix":"> "}\'');
  return value as Record<string, unknown>;
}

/** `Echo=hello` → { op: 'Echo', payload: 'hello' }; `Keys` → empty payload. */
function parseOp(text: string): { op: string; payload: string } {
  const eq = text.indexOf('=');
  const op = eq < 0 ? text : text.slice(0, eq);
  if (!op) throw usage(`--op ${JSON.stringify(text)}: expected OP or OP=PAYLOAD`);
  return { op, payload: eq < 0 ? '' : text.slice(eq + 1) };
}

export function formatAbiReport(r: AbiCheckReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => `${c.status.toUpperCase().padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}`);
  const failed = r.checks.filter((c) => c.status === 'fail').map((c) => c.name);
  lines.push(
    r.ok
      ? `${r.library}: conforms to provider ABI v1 (${r.checks.length} checks passed)`
      : `${r.library}: does NOT conform: ${failed.join(', ')} failed`,
  );
  return lines.join('\n') + '\n';
}

export function registerAbi(program: Command): void {
  const abi = program.command('abi').description('the native provider ABI');
  abi
    .command('check')
    .description('run the ABI v1 conformance checks against a provider library (exit 0 only if all pass)')
    .argument('<library>', 'the provider shared library (.so)')
    .option('--capid <id>', 'capability_id() must equal this')
    .option('--config <json>', 'the configuration passed to configure (a JSON object; default {})')
    .option('--op <op[=payload]>', 'an operation that must succeed with this payload (repeatable); later checks call it too', collect, [])
    .option('--timeout <duration>', 'how long one check may take before the provider counts as hung', '20s')
    .option('--json', 'print one JSON report')
    .action(async (library: string, o: { capid?: string; config?: string; op: string[]; timeout: string; json?: boolean }) => {
      const path = resolve(library);
      if (!existsSync(path)) throw usage(`${library}: no such file`);
      const report = await runAbiCheck({
        library: path,
        capid: o.capid,
        config: parseConfig(o.config),
        ops: o.op.map(parseOp),
        checkTimeoutMs: parseDuration(o.timeout, '--timeout', { positive: true }),
      });
      process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatAbiReport(report));
      if (!report.ok) process.exitCode = 1;
    });
}
