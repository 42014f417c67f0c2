/**
 * Start (or not) the OpenTelemetry SDK for one process. Only when config.ts says tracing is
 * on are the SDK, the exporters and the W3C propagator imported: off, a process loads nothing
 * but @opentelemetry/api, whose no-op tracer answers every span call.
 */
import { context, propagation, type TracerProvider, trace } from '@opentelemetry/api';
import { type TracingConfig, tracingConfig } from './config.js';
import { logger } from '../log.js';

export interface Tracing {
  /** True when spans are recorded and exported. */
  readonly enabled: boolean;
  /** Send what is buffered now (a short-lived command calls it before it exits). */
  flush(): Promise<void>;
  /** Flush and stop; the global tracer is a no-op afterwards. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} };

let current: Tracing | undefined;
/** The sampler drops every span whose remote parent was not sampled (the parentbased_* ones). */
let dropsUnsampledParents = false;

/** Whether this process records spans: hot paths check it before they make one. */
export function tracingEnabled(): boolean {
  return current?.enabled === true;
}

/**
 * Whether a span under a remote parent that was not sampled is never recorded here — the
 * sampler is parent-based (every parentbased_* sampler keeps the caller's "no"): a host then
 * skips its spans for such a call instead of making non-recording ones (agent/host/call-trace.ts).
 */
export function followsUnsampledParent(): boolean {
  return dropsUnsampledParents && tracingEnabled();
}

/**
 * Start tracing for this process as `component` (gantry-cli, gantry-agent, gantry-host,
 * gantry-controller: the default service.name). Idempotent: a second call
 * returns the first result. Throws TracingConfigError for OTEL_* values it cannot honour.
 */
export async function startTracing(component: string, env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  if (current) return current;
  const config = tracingConfig(env, component);
  current = config ? await start(config, component) : OFF;
  return current;
}

async function start(config: TracingConfig, component: string): Promise<Tracing> {
  const [sdk, core, resources, hooks] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/context-async-hooks'),
  ]);
  const processors: InstanceType<typeof sdk.BatchSpanProcessor | typeof sdk.SimpleSpanProcessor>[] = [];
  for (const name of config.exporters) {
    if (name === 'console') processors.push(new sdk.SimpleSpanProcessor({ exporter: new sdk.ConsoleSpanExporter() }));
    else processors.push(new sdk.BatchSpanProcessor({ exporter: await otlpExporter(config) }));
  }
  const resource = resources
    .defaultResource()
    .merge(resources.detectResources({ detectors: [resources.envDetector, resources.processDetector] }))
    .merge(resources.resourceFromAttributes({ 'service.name': config.serviceName, 'gantry.component': component }));
  const provider = new sdk.TracerProvider({ resource, sampler: sampler(sdk, config), spanProcessors: processors });
  return register(provider, hooks, core, config.sampler.startsWith('parentbased_'));
}

/** What register() needs of a tracer provider: the SDK's TracerProvider has it. */
export interface FlushableTracerProvider extends TracerProvider {
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

/**
 * Trace this process with a tracer provider built elsewhere — a program embedding Gantry's
 * client with its own SDK set-up, or a test with an in-memory exporter — instead of from
 * OTEL_*. Registers the W3C propagator and the async context manager as startTracing does.
 * `parentBased`: say so when the provider's sampler drops every span under a remote parent that
 * was not sampled (a ParentBasedSampler with its default remoteParentNotSampled) — only then
 * does a host skip the spans of such calls; unsaid, it asks the sampler each time.
 */
export async function registerTracing(provider: FlushableTracerProvider, o: { parentBased?: boolean } = {}): Promise<Tracing> {
  if (current?.enabled) await current.shutdown();
  const [core, hooks] = await Promise.all([import('@opentelemetry/core'), import('@opentelemetry/context-async-hooks')]);
  current = register(provider, hooks, core, o.parentBased === true);
  return current;
}

/** How long flush() and shutdown() wait for the exporter: a stopping process does not wait on observability. */
const SETTLE_MS = 1000;

function register(
  provider: FlushableTracerProvider,
  hooks: typeof import('@opentelemetry/context-async-hooks'),
  core: typeof import('@opentelemetry/core'),
  parentBased: boolean,
): Tracing {
  dropsUnsampledParents = parentBased;
  context.setGlobalContextManager(new hooks.AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  // an unreachable collector loses spans, never the process: export errors are logged, not
  // thrown, and a flush or shutdown waits at most SETTLE_MS (the OTLP exporter retries an
  // unreachable collector for ~8 s, measured: `gantry call` took 8.3 s instead of 0.3 s)
  const log = logger('tracing');
  const quietly = async (what: string, p: Promise<void>) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), SETTLE_MS);
      timer.unref();
    });
    try {
      if ((await Promise.race([p, late])) === 'late') log.warn(`tracing: ${what} took over ${SETTLE_MS} ms; spans may be lost`);
    } catch (e) {
      log.warn({ err: (e as Error).message }, `tracing: ${what} failed; spans may be lost`);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    enabled: true,
    flush: () => quietly('flush', provider.forceFlush()),
    shutdown: async () => {
      await quietly('shutdown', provider.shutdown());
      trace.disable();
      propagation.disable();
      context.disable();
      current = undefined;
      dropsUnsampledParents = false;
    },
  };
}

async function otlpExporter(config: TracingConfig) {
  // the exporters read OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout, TLS files) themselves
  if (config.protocol === 'http/json') {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    return new OTLPTraceExporter();
  }
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter();
}

function sampler(sdk: typeof import('@opentelemetry/sdk-trace'), config: TracingConfig) {
  const ratio = () => new sdk.TraceIdRatioBasedSampler(config.ratio);
  switch (config.sampler) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: ratio() });
    default:
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
  }
}
