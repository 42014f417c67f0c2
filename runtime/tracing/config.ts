/**
 * Whether and how a Gantry process traces, from the standard OpenTelemetry variables
 * (https://opentelemetry.io/docs/specs/otel/configuration/sdk-environment-variables/). Pure,
 * so it is tested (and mutated) on plain objects; setup.ts acts on the result.
 *
 * Tracing is off unless asked for: OTEL_TRACES_EXPORTER names an exporter, or an OTLP endpoint
 * (OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Off means the SDK is
 * never loaded (the @opentelemetry/api no-op tracer answers every call). A value Gantry cannot
 * honour is an error naming the variable, not a silent fallback: an operator who asked for
 * traces and gets none would chase the wrong problem.
 */

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export interface TracingConfig {
  /** Exporters to send spans to (OTEL_TRACES_EXPORTER; `otlp` when only an endpoint is set). */
  exporters: ('otlp' | 'console')[];
  protocol: OtlpProtocol;
  sampler: SamplerName;
  /** OTEL_TRACES_SAMPLER_ARG for the ratio samplers, in [0, 1] (default 1). */
  ratio: number;
  /** OTEL_SERVICE_NAME, else the process's own name (gantry-agent, gantry-host, …). */
  serviceName: string;
}

export class TracingConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'TracingConfigError';
  }
}

const SAMPLERS: readonly SamplerName[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];

type Env = Record<string, string | undefined>;

function value(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v ? v : undefined;
}

/** null: tracing is off. Throws TracingConfigError for a value that cannot be honoured. */
export function tracingConfig(env: Env, defaultService: string): TracingConfig | null {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return null;
  const named = value(env, 'OTEL_TRACES_EXPORTER');
  const endpoint = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (named === undefined && endpoint === undefined) return null;
  const exporters = exportersOf(named ?? 'otlp');
  if (exporters.length === 0) return null;
  return {
    exporters,
    protocol: protocolOf(env),
    sampler: samplerOf(env),
    ratio: ratioOf(env),
    serviceName: value(env, 'OTEL_SERVICE_NAME') ?? defaultService,
  };
}

function exportersOf(raw: string): TracingConfig['exporters'] {
  const names = raw.split(',').map((s) => s.trim().toLowerCase());
  if (names.includes('none')) {
    if (names.length > 1)
      throw new TracingConfigError('OTEL_TRACES_EXPORTER', `"none" cannot be combined with other exporters (got "${raw}")`);
    return [];
  }
  const out: TracingConfig['exporters'] = [];
  for (const n of names) {
    if (n !== 'otlp' && n !== 'console') {
      throw new TracingConfigError('OTEL_TRACES_EXPORTER', `"${n}" is not an exporter Gantry has; use otlp, console or none`);
    }
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

function protocolOf(env: Env): OtlpProtocol {
  const variable = value(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const raw = value(env, variable) ?? 'http/protobuf';
  if (raw === 'http/protobuf' || raw === 'http/json') return raw;
  if (raw === 'grpc') {
    throw new TracingConfigError(
      variable,
      "grpc is not supported (Gantry exports OTLP over HTTP); use http/protobuf or http/json and the collector's HTTP port (4318)",
    );
  }
  throw new TracingConfigError(variable, `"${raw}" is not an OTLP protocol; use http/protobuf or http/json`);
}

function samplerOf(env: Env): SamplerName {
  const raw = value(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  const found = SAMPLERS.find((s) => s === raw);
  if (!found)
    throw new TracingConfigError('OTEL_TRACES_SAMPLER', `"${raw}" is not a sampler Gantry has; use one of ${SAMPLERS.join(', ')}`);
  return found;
}

function ratioOf(env: Env): number {
  const raw = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  if (raw === undefined) return 1;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    throw new TracingConfigError('OTEL_TRACES_SAMPLER_ARG', `"${raw}" is not a sampling ratio; use a number from 0 to 1`);
  }
  return n;
}

/** The OTEL_* variables a parent passes on to the processes it starts (the sandbox, the agent → its hosts). */
export function otelEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('OTEL_') && v !== undefined) out[k] = v;
  return out;
}
