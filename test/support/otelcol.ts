/**
 * The real OpenTelemetry Collector the trace tests send spans to: bench/support/otelcol.ts
 * (bench/host-calls.ts exports to it too), built by scripts/otelcol.sh.
 */
export {
  type CollectedSpan,
  type Collector,
  otelcolBinary,
  otelcolMissing,
  parseSpans,
  spanTree,
  startCollector,
} from '../../bench/support/otelcol.js';
