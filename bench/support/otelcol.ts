/**
 * A real OpenTelemetry Collector for the trace tests and benches (scripts/otelcol.sh builds it into a
 * cache outside the repo): OTLP over HTTP in on a free port, every batch appended as a JSON
 * line to a file this process reads back. `spans()` flattens what arrived so far.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../runtime/host.js';

export const OTELCOL_VERSION = '0.161.0';
const RECIPE = 1;

/** Where scripts/otelcol.sh puts the binary (GANTRY_OTELCOL_BIN overrides). */
export function otelcolBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GANTRY_OTELCOL_BIN) return env.GANTRY_OTELCOL_BIN;
  const root = env.GANTRY_OTELCOL_CACHE || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'gantry', 'otelcol');
  return join(root, `v${OTELCOL_VERSION}-r${RECIPE}`, 'otelcol');
}

/** Why the trace tests cannot run here, or undefined when the collector is built. */
export function otelcolMissing(): string | undefined {
  const bin = otelcolBinary();
  return existsSync(bin) ? undefined : `no collector at ${bin}: run scripts/otelcol.sh (scripts/setup.sh does)`;
}

export type SpanKind = 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER' | 'UNSPECIFIED';
export type StatusCode = 'UNSET' | 'OK' | 'ERROR';

export interface CollectedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span */
  parentSpanId: string;
  name: string;
  kind: SpanKind;
  status: { code: StatusCode; message: string };
  attributes: Record<string, string | number | boolean>;
  /** the resource's service.name: which process made it */
  service: string;
  startNs: bigint;
  endNs: bigint;
}

export interface Collector {
  /** OTLP/HTTP base URL, for OTEL_EXPORTER_OTLP_ENDPOINT */
  endpoint: string;
  /** OTEL_* that send a process's spans here (protocol: http/protobuf unless asked) */
  env(protocol?: 'http/protobuf' | 'http/json'): Record<string, string>;
  spans(): CollectedSpan[];
  /** Bounded poll until `pick` finds what it wants in the spans so far. */
  waitFor<T>(what: string, pick: (spans: CollectedSpan[]) => T | undefined, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

const KINDS: SpanKind[] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const CODES: StatusCode[] = ['UNSET', 'OK', 'ERROR'];

export async function startCollector(): Promise<Collector> {
  const bin = otelcolBinary();
  const dir = mkdtempSync(join(tmpdir(), 'gantry-otelcol-'));
  const port = await freePort();
  const file = join(dir, 'traces.jsonl');
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      'receivers:',
      '  otlp:',
      '    protocols:',
      '      http:',
      `        endpoint: 127.0.0.1:${port}`,
      'exporters:',
      '  file:',
      `    path: ${file}`,
      // short: a test waits for its spans, and this is how long they may sit in the exporter
      '    flush_interval: 100ms',
      'service:',
      '  telemetry:',
      // no metrics endpoint of its own (a fixed port 8888 two collectors would both want)
      '    metrics:',
      '      level: none',
      '    logs:',
      '      level: warn',
      '  pipelines:',
      '    traces:',
      '      receivers: [otlp]',
      '      exporters: [file]',
      '',
    ].join('\n'),
  );
  let log = '';
  const proc: ChildProcess = spawn(bin, ['--config', `file:${config}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`otelcol exited before listening:\n${log}`);
      }),
    ]);
  } catch (err) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const spans = () => (existsSync(file) ? parseSpans(readFileSync(file, 'utf8')) : []);
  return {
    endpoint,
    env: (protocol = 'http/protobuf') => ({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: protocol }),
    spans,
    async waitFor(what, pick, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = pick(spans());
        if (found !== undefined) return found;
        if (Date.now() > deadline || proc.exitCode !== null)
          throw new Error(`timed out waiting for ${what}; the collector has ${spans().length} spans:\n${spanTree(spans())}\n${log}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttr {
  key: string;
  value: OtlpValue;
}

function attrs(list: OtlpAttr[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value: v } of list ?? []) {
    out[key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : (v.doubleValue ?? v.boolValue ?? ''));
  }
  return out;
}

/** The file exporter's JSON lines (one OTLP ExportTraceServiceRequest each), flattened. */
export function parseSpans(text: string): CollectedSpan[] {
  const out: CollectedSpan[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as { resourceSpans?: any[] };
    for (const rs of req.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          out.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? '',
            name: s.name,
            kind: KINDS[s.kind ?? 0] ?? 'UNSPECIFIED',
            status: { code: CODES[s.status?.code ?? 0] ?? 'UNSET', message: s.status?.message ?? '' },
            attributes: attrs(s.attributes),
            service,
            startNs: BigInt(s.startTimeUnixNano ?? 0),
            endNs: BigInt(s.endTimeUnixNano ?? 0),
          });
        }
      }
    }
  }
  return out;
}

/**
 * One trace (or several) as an indented tree: name [service] kind, duration, status and the
 * gantry.* attributes — what docs/observability.md shows.
 */
export function spanTree(spans: CollectedSpan[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, CollectedSpan[]>();
  for (const s of spans) {
    const parent = ids.has(s.parentSpanId) ? s.parentSpanId : '';
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const lines: string[] = [];
  const walk = (parent: string, depth: number) => {
    const list = (children.get(parent) ?? []).sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
    for (const s of list) {
      const ms = Number(s.endNs - s.startNs) / 1e6;
      const status = s.status.code === 'ERROR' ? `  ERROR ${s.status.message}` : '';
      const a = Object.entries(s.attributes)
        .filter(([k]) => k.startsWith('gantry.'))
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
      lines.push(`${'  '.repeat(depth)}${s.name} [${s.service}] ${s.kind} ${ms.toFixed(2)} ms${status}${a ? `  ${a}` : ''}`);
      walk(s.spanId, depth + 1);
    }
  };
  walk('', 0);
  return lines.join('\n');
}
