/**
 * runtime/tracing/config.ts: whether a process traces and where its spans go, from the standard
 * OTEL_* variables. Off unless asked for; a value Gantry cannot honour is a TracingConfigError
 * naming the variable (never a silent fallback); otelEnv is what a parent passes on.
 */
import { describe, expect, it } from 'vitest';
import { otelEnv, TracingConfigError, tracingConfig } from '../../runtime/tracing/config.js';

const on = { OTEL_TRACES_EXPORTER: 'otlp' };

/** The TracingConfigError a config fails with (the test fails if it does not). */
function configError(env: Record<string, string | undefined>): TracingConfigError {
  try {
    tracingConfig(env, 'gantry-test');
  } catch (e) {
    expect(e).toBeInstanceOf(TracingConfigError);
    return e as TracingConfigError;
  }
  throw new Error('expected a TracingConfigError');
}

describe('on or off', () => {
  it('is off by default: no variable, blank variables, or OTEL_* that turn nothing on', () => {
    expect(tracingConfig({}, 'gantry-test')).toBeNull();
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: '  ', OTEL_EXPORTER_OTLP_ENDPOINT: '' }, 'gantry-test')).toBeNull();
    expect(tracingConfig({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on', PATH: '/bin' }, 'gantry-test')).toBeNull();
  });

  it('an OTLP endpoint alone turns it on with the otlp exporter and the defaults', () => {
    for (const endpoint of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']) {
      expect(tracingConfig({ [endpoint]: 'http://127.0.0.1:4318' }, 'gantry-host')).toEqual({
        exporters: ['otlp'],
        protocol: 'http/protobuf',
        sampler: 'parentbased_always_on',
        ratio: 1,
        serviceName: 'gantry-host',
      });
    }
  });

  it('OTEL_TRACES_EXPORTER names the exporters: otlp, console, both (deduplicated, any case); none is off', () => {
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: 'console' }, 's')?.exporters).toEqual(['console']);
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: ' OTLP , console,otlp ' }, 's')?.exporters).toEqual(['otlp', 'console']);
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 's')).toBeNull();
    expect(tracingConfig({ OTEL_TRACES_EXPORTER: 'NONE' }, 's')).toBeNull();
  });

  it('OTEL_SDK_DISABLED=true (any case) turns it off whatever else is set; other values do not', () => {
    expect(tracingConfig({ ...on, OTEL_SDK_DISABLED: 'TRUE' }, 's')).toBeNull();
    expect(tracingConfig({ ...on, OTEL_SDK_DISABLED: ' true ', OTEL_TRACES_SAMPLER: 'bogus' }, 's')).toBeNull();
    expect(tracingConfig({ ...on, OTEL_SDK_DISABLED: 'false' }, 's')?.exporters).toEqual(['otlp']);
    expect(tracingConfig({ ...on, OTEL_SDK_DISABLED: '1' }, 's')?.exporters).toEqual(['otlp']);
  });

  it('the service name is OTEL_SERVICE_NAME, else the component', () => {
    expect(tracingConfig({ ...on, OTEL_SERVICE_NAME: ' shop-calls ' }, 'gantry-cli')?.serviceName).toBe('shop-calls');
    expect(tracingConfig({ ...on, OTEL_SERVICE_NAME: ' ' }, 'gantry-cli')?.serviceName).toBe('gantry-cli');
  });
});

describe('what cannot be honoured is an error naming its variable', () => {
  it('an exporter Gantry does not have, or none combined with another', () => {
    const bad = configError({ OTEL_TRACES_EXPORTER: 'otlp,zipkin' });
    expect(bad.variable).toBe('OTEL_TRACES_EXPORTER');
    expect(bad.message).toBe('OTEL_TRACES_EXPORTER: "zipkin" is not an exporter Gantry has; use otlp, console or none');
    expect(bad.name).toBe('TracingConfigError');
    expect(configError({ OTEL_TRACES_EXPORTER: 'none,console' }).message).toBe(
      'OTEL_TRACES_EXPORTER: "none" cannot be combined with other exporters (got "none,console")',
    );
  });

  it('the protocol: http/protobuf by default, http/json, the traces-specific variable first', () => {
    expect(tracingConfig({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }, 's')?.protocol).toBe('http/json');
    expect(tracingConfig({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, 's')?.protocol).toBe('http/protobuf');
    expect(
      tracingConfig({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, 's')?.protocol,
    ).toBe('http/json');
    const bad = configError({ ...on, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'thrift' });
    expect([bad.variable, bad.message]).toEqual([
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
      'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "thrift" is not an OTLP protocol; use http/protobuf or http/json',
    ]);
  });

  it('grpc is refused with its own message, under whichever variable asked for it', () => {
    const general = configError({ ...on, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    expect(general.variable).toBe('OTEL_EXPORTER_OTLP_PROTOCOL');
    expect(general.message).toBe(
      "OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported (Gantry exports OTLP over HTTP); use http/protobuf or http/json and the collector's HTTP port (4318)",
    );
    const traces = configError({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' });
    expect(traces.variable).toBe('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL');
    expect(traces.message).toMatch(/^OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: grpc is not supported/);
  });

  it('the sampler: each one Gantry has, the parent-based always_on by default, any other refused', () => {
    for (const s of [
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ]) {
      expect(tracingConfig({ ...on, OTEL_TRACES_SAMPLER: s }, 's')?.sampler).toBe(s);
    }
    const bad = configError({ ...on, OTEL_TRACES_SAMPLER: 'jaeger_remote' });
    expect([bad.variable, bad.message]).toEqual([
      'OTEL_TRACES_SAMPLER',
      'OTEL_TRACES_SAMPLER: "jaeger_remote" is not a sampler Gantry has; use one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio',
    ]);
  });

  it('the ratio: a number from 0 to 1 inclusive (default 1); anything else refused', () => {
    expect(tracingConfig({ ...on, OTEL_TRACES_SAMPLER_ARG: '0.25' }, 's')?.ratio).toBe(0.25);
    expect(tracingConfig({ ...on, OTEL_TRACES_SAMPLER_ARG: '0' }, 's')?.ratio).toBe(0);
    expect(tracingConfig({ ...on, OTEL_TRACES_SAMPLER_ARG: '1' }, 's')?.ratio).toBe(1);
    expect(tracingConfig({ ...on, OTEL_TRACES_SAMPLER_ARG: ' ' }, 's')?.ratio).toBe(1);
    for (const raw of ['1.5', '-0.1', 'half', 'Infinity', 'NaN']) {
      const bad = configError({ ...on, OTEL_TRACES_SAMPLER_ARG: raw });
      expect([bad.variable, bad.message]).toEqual([
        'OTEL_TRACES_SAMPLER_ARG',
        `OTEL_TRACES_SAMPLER_ARG: "${raw}" is not a sampling ratio; use a number from 0 to 1`,
      ]);
    }
  });

  it('nothing is checked while tracing is off: a bad value of a process that does not trace is no error', () => {
    expect(tracingConfig({ OTEL_TRACES_SAMPLER: 'bogus', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 's')).toBeNull();
  });
});

describe('otelEnv', () => {
  it('passes on exactly the OTEL_* variables that have a value, untouched', () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_SERVICE_NAME: '',
      OTEL_RESOURCE_ATTRIBUTES: 'a=b',
      OTEL_UNSET: undefined,
      PATH: '/bin',
      GANTRY_NATS_CREDS: '/secret.creds',
      otel_lower: 'x',
      MY_OTEL_X: 'y',
    };
    // strict: a variable without a value is left out, not passed on as undefined
    expect(otelEnv(env)).toStrictEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_SERVICE_NAME: '',
      OTEL_RESOURCE_ATTRIBUTES: 'a=b',
    });
    expect(otelEnv({})).toEqual({});
  });
});
