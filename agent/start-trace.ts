/**
 * An instance's start as it happened: the clock the runner times each attempt with, the first
 * start's timeline (for benches), and the `gantry.agent.start` trace — one span from the claim
 * to Running or Failed, with a child per phase of each attempt (fetch, verify, load, connect).
 *
 * The phase spans are made after the fact from the attempt's own marks, so the runner's hot
 * path only pushes timestamps; with tracing off the no-op tracer drops them.
 */
import { ROOT_CONTEXT, type Span, trace } from '@opentelemetry/api';
import type { ProviderInstance } from '../api/index.js';
import { failSpan } from '../runtime/toolkit/spans.js';
import { Attrs, Spans, tracer } from '../runtime/tracing/index.js';

/**
 * When each step of the first start ended, as epoch ms (performance.timeOrigin + now(), so a
 * bench in the same process can line them up with its own clock): `runner` is when the watch
 * event reached the runner; then the pipeline's steps, `Starting`, `Running` (host ready) and
 * `statusWritten` (the Running status accepted by the API server); `host` is the host's own.
 */
export interface StartTimeline {
  marks: Array<[step: string, atEpochMs: number]>;
  host?: HostStartTimings;
}

/** How a host's incarnation started: its own steps in ms (agent/host/main.ts). */
export interface HostStartTimings {
  pooled: boolean;
  totalMs: number;
  steps: Record<string, number>;
}

export const epochNow = (): number => performance.timeOrigin + performance.now();

/** The steps of one attempt in ms since it began; the first attempt's also go to the start timeline. */
export class AttemptClock {
  private readonly t0 = performance.now();
  readonly sinceStart: Record<string, number> = {};
  /** This attempt's phases (Fetching, Verifying, Starting, Running) as epoch ms, for the trace. */
  readonly phases: Array<[step: string, atEpochMs: number]> = [];

  constructor(private readonly timeline: StartTimeline | undefined) {}

  /** A timeline mark only (the pipeline's finer steps). */
  readonly mark = (step: string): void => {
    this.timeline?.marks.push([step, epochNow()]);
  };

  /** A step timed and marked. */
  step(step: string): void {
    this.sinceStart[step] = performance.now() - this.t0;
    this.phases.push([step, epochNow()]);
    this.mark(step);
  }
}

/** Which span each runner phase opens; Running closes the last. */
const PHASE_SPANS: Record<string, string> = { Fetching: Spans.agentFetch, Verifying: Spans.agentVerify, Starting: Spans.agentLoad };

/** The host's steps after its library is loaded and configured: connecting to NATS and subscribing. */
const CONNECT_STEPS = ['connect', 'dispatch+threads', 'subscribe'];

export interface StartFailure {
  reason: string;
  message: string;
  retryable: boolean;
}

export class StartTrace {
  private readonly span: Span;
  private ended = false;

  constructor(instance: ProviderInstance) {
    const m = instance.metadata;
    this.span = tracer().startSpan(
      Spans.agentStart,
      {
        startTime: epochNow(),
        attributes: {
          [Attrs.namespace]: m.namespace ?? 'default',
          [Attrs.provider]: instance.spec.provider,
          [Attrs.instance]: m.name,
          [Attrs.node]: instance.spec.nodeName,
          [Attrs.revision]: instance.spec.archive.revision,
          [Attrs.digest]: instance.spec.archive.digest,
        },
      },
      ROOT_CONTEXT,
    );
  }

  /** The host is ready: the attempt's phases, the last split into load and connect by the host's own steps. */
  running(clock: AttemptClock, host: HostStartTimings | undefined): void {
    if (this.ended) return;
    const connectMs = CONNECT_STEPS.reduce((sum, s) => sum + (host?.steps[s] ?? 0), 0);
    this.phases(clock, { connectMs });
    this.end();
  }

  /** The attempt failed: its open phase ends with the reason; a final failure ends the start. */
  failed(clock: AttemptClock | undefined, f: StartFailure): void {
    if (this.ended) return;
    if (clock) this.phases(clock, { failure: f });
    if (f.retryable) {
      this.span.addEvent('retry', { reason: f.reason, message: f.message });
      return;
    }
    this.span.setAttribute(Attrs.reason, f.reason);
    failSpan(this.span, new Error(`${f.reason}: ${f.message}`));
    this.end();
  }

  /** Stopped before it ran (deleted, the agent stopping): the start ends where it was. */
  stopped(): void {
    if (this.ended) return;
    this.span.addEvent('stopped');
    this.end();
  }

  private phases(clock: AttemptClock, o: { connectMs?: number; failure?: StartFailure }): void {
    const parent = trace.setSpan(ROOT_CONTEXT, this.span);
    const marks = clock.phases;
    const now = epochNow();
    for (let i = 0; i < marks.length; i++) {
      const [step, from] = marks[i]!;
      const name = PHASE_SPANS[step];
      if (!name) continue;
      const next = marks[i + 1];
      const to = next?.[1] ?? now;
      if (name === Spans.agentLoad && next && o.connectMs !== undefined) {
        // Starting → Running covers the host's load, configure and connect: split at the host's own steps
        const split = Math.max(from, to - o.connectMs);
        tracer().startSpan(name, { startTime: from }, parent).end(split);
        tracer().startSpan(Spans.agentConnect, { startTime: split }, parent).end(to);
        continue;
      }
      const span = tracer().startSpan(name, { startTime: from }, parent);
      if (!next && o.failure) failSpan(span, new Error(`${o.failure.reason}: ${o.failure.message}`));
      span.end(to);
    }
  }

  private end(): void {
    this.ended = true;
    this.span.end(epochNow());
  }
}
