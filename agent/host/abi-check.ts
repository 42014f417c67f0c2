/**
 * The provider ABI v1 conformance suite (`gantry abi check`): what a provider author runs
 * before publishing, and what the example providers are tested with.
 *
 * The library runs in a child process (abi-check-run.ts) that loads it with the host's own
 * loader, as a provider host does; the child reports each check as it begins and ends. A
 * provider that crashes or hangs takes only the child down, and the check that was running is
 * the one that fails, with the signal or the time it took. Checks, in order (docs/abi.md):
 *
 *   load, create-symbol, abi-version, table,
 *   extensions                                  — a failure here ends the run (flags, ext_size)
 *   capability-id, name                         — non-empty UTF-8; capid as expected
 *   configure-bad, configure-good               — malformed JSON refused (code 6), the config accepted
 *   configure-dispatch, health                  — health: healthy, unhealthy with a message, or absent
 *   unknown-op, calls                           — unknown op → GANTRY_ERR_UNKNOWN_OP with a message
 *   concurrent-calls, large-payload, free-buffer — several threads, 1 and 16 MiB, no growth
 *   stop-unload                                 — stop, dlclose, still alive
 *
 *   const report = await runAbiCheck({ library: 'providers/build/echo.so', capid: 'gantry:echo' });
 *   report.ok; report.checks[0] // { name: 'load', status: 'pass', detail: '…' }
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const ABI_CHECKS = [
  'load',
  'create-symbol',
  'abi-version',
  'table',
  'extensions',
  'capability-id',
  'name',
  'configure-bad',
  'configure-good',
  'configure-dispatch',
  'health',
  'unknown-op',
  'calls',
  'traced-calls',
  'concurrent-calls',
  'large-payload',
  'free-buffer',
  'stop-unload',
] as const;
export type AbiCheckName = (typeof ABI_CHECKS)[number];

export interface AbiCheckResult {
  name: AbiCheckName;
  /** skip: not run, because a check it depends on failed */
  status: 'pass' | 'fail' | 'skip';
  detail: string;
}

export interface AbiCheckReport {
  library: string;
  ok: boolean;
  checks: AbiCheckResult[];
}

export interface AbiCheckOptions {
  library: string;
  /** capability_id() must equal this */
  capid?: string;
  /** the configuration passed to configure (default {}) */
  config?: Record<string, unknown>;
  /** operations that must succeed with these payloads; they are also used by the later checks */
  ops?: { op: string; payload: string }[];
  /** how long one check may take before the provider counts as hung (default 20 s) */
  checkTimeoutMs?: number;
  /** threads calling handle_call at once (default 8) */
  threads?: number;
}

/** What the child process is told (internal). */
export interface AbiCheckPlan {
  library: string;
  capid?: string;
  config: Record<string, unknown>;
  ops: { op: string; payload: string }[];
  threads: number;
  largePayloadBytes: number;
  leakRounds: number;
  leakLimitBytes: number;
}

type ChildMessage =
  | { type: 'begin'; check: AbiCheckName }
  | { type: 'result'; check: AbiCheckName; status: 'pass' | 'fail'; detail: string }
  | { type: 'error'; message: string };

/** The last lines a dying provider printed, for the failure detail. */
function tail(text: string, lines = 3): string {
  const t = text.trim().split('\n').slice(-lines).join(' | ');
  return t ? `; it printed: ${t.slice(-600)}` : '';
}

/** The child's entry point: beside this file in dist/, or in dist/ when this runs from sources (tests). */
function runEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts')
    ? join(dirname(here), '..', '..', 'dist', 'agent', 'host', 'abi-check-run.js')
    : join(dirname(here), 'abi-check-run.js');
}

export function runAbiCheck(opts: AbiCheckOptions): Promise<AbiCheckReport> {
  const plan = abiCheckPlan(opts);
  // koffi's async calls run on libuv's pool: make it as wide as the concurrency asked for.
  const child = spawn(process.execPath, ['--expose-gc', runEntry(), JSON.stringify(plan)], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.max(4, plan.threads)) },
  });
  const progress = new CheckProgress(child, opts.checkTimeoutMs ?? 20_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const checks = progress.finish(code, signal);
      resolve({ library: opts.library, ok: checks.every((c) => c.status === 'pass'), checks });
    });
  });
}

function abiCheckPlan(opts: AbiCheckOptions): AbiCheckPlan {
  return {
    library: opts.library,
    capid: opts.capid,
    config: opts.config ?? {},
    ops: opts.ops ?? [],
    threads: opts.threads ?? 8,
    largePayloadBytes: 16 * 1024 * 1024,
    leakRounds: 128,
    leakLimitBytes: 8 * 1024 * 1024,
  };
}

/**
 * The parent's view of the child: the check running now (its timeout re-armed at each begin),
 * the results so far, and the child's last output; at its exit, every check's result, the one
 * that was running when it crashed or hung failing with the signal or the time it took.
 */
class CheckProgress {
  private readonly results = new Map<AbiCheckName, AbiCheckResult>();
  private current: AbiCheckName | undefined;
  private output = '';
  private internalError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;
  private partial = '';

  constructor(
    private readonly child: ChildProcess,
    private readonly timeoutMs: number,
  ) {
    this.arm();
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString('utf8')).slice(-8192);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => this.read(b));
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.child.kill('SIGKILL');
    }, this.timeoutMs);
  }

  /** JSON lines on fd 3. */
  private read(b: Buffer): void {
    this.partial += b.toString('utf8');
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      const m = JSON.parse(this.partial.slice(0, nl)) as ChildMessage;
      this.partial = this.partial.slice(nl + 1);
      if (m.type === 'begin') {
        this.current = m.check;
        this.output = '';
        this.arm();
      } else if (m.type === 'result') {
        this.results.set(m.check, { name: m.check, status: m.status, detail: m.detail });
        this.current = undefined;
      } else this.internalError = m.message;
    }
  }

  /** Every check's result once the child exited with `code` or `signal`. */
  finish(code: number | null, signal: NodeJS.Signals | null): AbiCheckResult[] {
    clearTimeout(this.timer);
    const { results, current } = this;
    if (current && !results.has(current)) {
      results.set(current, { name: current, status: 'fail', detail: this.whyItEnded(code, signal) });
    } else if (!current && (signal || code !== 0) && results.size === ABI_CHECKS.length) {
      // Every check passed, but the process died afterwards (e.g. a thread ran into unloaded code).
      results.set('stop-unload', {
        name: 'stop-unload',
        status: 'fail',
        detail: `the process died after unloading (${signal ?? `status ${code}`})${tail(this.output)}`,
      });
    }
    const failedEarly = [...results.values()].find((r) => r.status === 'fail');
    const notRun = this.internalError ? `not run: ${this.internalError}` : failedEarly ? `not run: ${failedEarly.name} failed` : 'not run';
    return ABI_CHECKS.map((name): AbiCheckResult => results.get(name) ?? { name, status: 'skip', detail: notRun });
  }

  /** Why the check that was running never reported. */
  private whyItEnded(code: number | null, signal: NodeJS.Signals | null): string {
    if (this.timedOut)
      return `did not finish within ${this.timeoutMs} ms: a call hangs (native code cannot be cancelled; bound your waits)`;
    if (signal) return `the provider crashed the host process (${signal})${tail(this.output)}`;
    return `the host process exited with status ${code} during this check${tail(this.output)}`;
  }
}
