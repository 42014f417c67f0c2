/**
 * Traces end to end through a real OpenTelemetry Collector (scripts/otelcol.sh): a sandbox
 * started with OTEL_* (so its controller, agent and hosts export, over http/protobuf), and
 * `gantry call` as a process exporting over http/json. One call is one trace from the CLI
 * through the host to the provider; a failed call carries its code; the agent's start of the
 * instance and the controller's reconcile of the Provider are traces of their own.
 * On both API servers (vitest.config.ts): the sandbox runs on the one the project names.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gantryBin, packageRoot } from '../../runtime/paths.js';
import { type CollectedSpan, type Collector, otelcolMissing, spanTree, startCollector } from '../support/otelcol.js';
import { type SandboxLaunch, sandboxLauncher } from '../support/sandbox-launch.js';

const missing = otelcolMissing();
const ground = process.env.GANTRY_TEST_APISERVER === 'real' ? 'real' : 'emulated';

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function gantry(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [gantryBin(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** A trace as docs/observability.md shows it, in reports/ (and the test's output). */
function report(file: string, what: string, spans: CollectedSpan[]): void {
  const tree = spanTree(spans);
  mkdirSync(join(packageRoot(), 'reports'), { recursive: true });
  writeFileSync(join(packageRoot(), 'reports', file), `${tree}\n`);
  console.log(`${what}, as the collector received it:\n${tree}`);
}

const named = (spans: CollectedSpan[], name: string, where: (s: CollectedSpan) => boolean = () => true) =>
  spans.filter((s) => s.name === name && where(s));

describe.skipIf(missing !== undefined)(`traces through a real collector${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let col: Collector;
  const sandbox = sandboxLauncher('gantry-traces-');
  let up: SandboxLaunch;
  /** The sandbox's own `gantry call` env: its NATS from run.json, spans to the collector as JSON. */
  let callEnv: Record<string, string>;

  beforeAll(async () => {
    col = await startCollector();
    up = sandbox.up(['--apiserver', ground], { ...col.env('http/protobuf'), OTEL_BSP_SCHEDULE_DELAY: '200' });
    const deadline = Date.now() + 110_000;
    while (!up.out().includes('The sandbox is up')) {
      if (Date.now() > deadline || up.proc.exitCode !== null) throw new Error(`sandbox did not come up:\n${up.out()}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    callEnv = { GANTRY_SANDBOX_DIR: sandbox.dir, ...col.env('http/json') };
  }, 150_000);

  afterAll(async () => {
    sandbox.cleanup();
    await col?.stop();
  });

  /** The agent's start of echo's instance: a root span whose phases are its children. */
  async function echoStarted(): Promise<{ start: CollectedSpan; children: CollectedSpan[] }> {
    return col.waitFor('the agent starting echo (gantry.agent.start, Running)', (spans) => {
      const start = named(spans, 'gantry.agent.start', (s) => s.attributes['gantry.provider'] === 'echo' && s.status.code !== 'ERROR')[0];
      if (!start) return undefined;
      const children = spans.filter((s) => s.parentSpanId === start.spanId);
      return children.length >= 4 ? { start, children } : undefined;
    });
  }

  /** The one gantry.call span that arrived since `before` (the CLI run in between made it). */
  async function newCallSpan(before: Set<string>): Promise<CollectedSpan> {
    const calls = await col.waitFor("the CLI's gantry.call span", (spans) => {
      const found = named(spans, 'gantry.call', (s) => !before.has(s.spanId));
      return found.length ? found : undefined;
    });
    expect(calls).toHaveLength(1);
    return calls[0]!;
  }

  it("the agent's start of an instance is a trace: fetch, verify, load, connect under gantry.agent.start", async () => {
    const { start, children } = await echoStarted();
    expect(start.service).toBe('gantry-agent');
    expect(start.parentSpanId).toBe('');
    expect(start.attributes).toMatchObject({ 'gantry.namespace': 'default', 'gantry.node': 'gantry-node-1' });
    expect(String(start.attributes['gantry.instance'])).toMatch(/^echo-/);
    expect(String(start.attributes['gantry.digest'])).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(children.map((c) => c.name)).toEqual(['gantry.agent.fetch', 'gantry.agent.verify', 'gantry.agent.load', 'gantry.agent.connect']);
    for (const c of children) {
      expect(c.traceId).toBe(start.traceId);
      expect(c.status.code).not.toBe('ERROR');
      // each phase lies within the start, and they follow one another
      expect(c.startNs >= start.startNs && c.endNs <= start.endNs).toBe(true);
    }
    for (let i = 1; i < children.length; i++) expect(children[i]!.startNs >= children[i - 1]!.endNs).toBe(true);
    report('trace-agent-start.txt', "the agent's start of echo", [start, ...children]);
  });

  it("the controller's reconcile of a Provider is a trace with a span per phase", async () => {
    const { root, phases } = await col.waitFor('a reconcile of Provider echo with its phases', (spans) => {
      for (const root of named(spans, 'gantry.reconcile', (s) => s.attributes['gantry.name'] === 'echo')) {
        const phases = spans.filter((s) => s.parentSpanId === root.spanId).map((s) => s.name);
        if (phases.includes('gantry.reconcile.schedule')) return { root, phases };
      }
      return undefined;
    });
    expect(root.service).toBe('gantry-controller');
    expect(root.attributes).toMatchObject({ 'gantry.kind': 'Provider', 'gantry.namespace': 'default', 'gantry.name': 'echo' });
    for (const p of ['resolve', 'template', 'heal', 'rollout', 'schedule', 'pull-credentials', 'secret-config', 'status'])
      expect(phases).toContain(`gantry.reconcile.${p}`);
    report('trace-reconcile.txt', 'a reconcile of echo', [root, ...col.spans().filter((s) => s.parentSpanId === root.spanId)]);
  });

  it('one gantry call is one trace across the client, the host and the provider, parents intact', async () => {
    await echoStarted();
    const before = new Set(col.spans().map((s) => s.spanId));
    const r = await gantry(['call', 'echo', 'Echo', '--data', 'hello', '--retries', '3'], callEnv);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('hello');

    // the CLI sent its span before exiting; the collector writes it to the file within its flush interval
    const call = await newCallSpan(before);
    expect(call).toMatchObject({ service: 'gantry-cli', kind: 'CLIENT', parentSpanId: '' });
    expect(call.status.code).not.toBe('ERROR');
    const trace = await col.waitFor('the host and provider spans of the call', (spans) => {
      const t = spans.filter((s) => s.traceId === call.traceId);
      return t.some((s) => s.name === 'gantry.provider.call') ? t : undefined;
    });
    const hostCall = named(trace, 'gantry.host.call');
    expect(hostCall).toHaveLength(1);
    expect(hostCall[0]).toMatchObject({ service: 'gantry-host', kind: 'SERVER', parentSpanId: call.spanId });
    const provider = named(trace, 'gantry.provider.call');
    expect(provider).toHaveLength(1);
    expect(provider[0]).toMatchObject({ service: 'gantry-host', parentSpanId: hostCall[0]!.spanId });
    expect(named(trace, 'gantry.host.queue')[0]?.parentSpanId).toBe(hostCall[0]!.spanId);
    // every span of the trace hangs from another of it, but the caller's
    const ids = new Set(trace.map((s) => s.spanId));
    expect(trace.filter((s) => s.spanId !== call.spanId && !ids.has(s.parentSpanId))).toEqual([]);
    // both OTLP encodings arrived: the CLI exports http/json, the sandbox's processes http/protobuf
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['gantry-cli', 'gantry-host']));

    report('trace-example.txt', 'one gantry call', trace);
  });

  it('a failed call carries its error code on the client and the host spans', async () => {
    await echoStarted();
    const before = new Set(col.spans().map((s) => s.spanId));
    const r = await gantry(['call', 'echo', 'NoSuchOp', '--retries', '3'], callEnv);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('PROVIDER_ERROR');

    const call = await newCallSpan(before);
    expect(call.status.code).toBe('ERROR');
    expect(call.attributes['gantry.call.code']).toBe('PROVIDER_ERROR');
    const host = await col.waitFor(
      'the failed call on the host',
      (spans) => named(spans, 'gantry.host.call', (s) => s.parentSpanId === call.spanId && s.traceId === call.traceId)[0],
    );
    expect(host.status.code).toBe('ERROR');
    expect(host.attributes['gantry.call.code']).toBe('PROVIDER_ERROR');
    expect(host.attributes['gantry.provider.code']).toBe(3); // GANTRY_ERR_UNKNOWN_OP
  });

  it('a collector that is not there loses spans, never the call', async () => {
    await echoStarted();
    const r = await gantry(['call', 'echo', 'Echo', '--data', 'still', '--retries', '3'], {
      ...callEnv,
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('still');
  });
});

describe('OTEL_* the CLI cannot honour', () => {
  it('is a usage error naming the variable, before the command runs', async () => {
    const r = await gantry(['version'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported');
    expect(r.stdout).toBe('');
  });
});
