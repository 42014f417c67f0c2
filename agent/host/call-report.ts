/**
 * Telling others what the host's CallStats counted, while it serves: every second the agent
 * (IPC `calls`, for its Prometheus export) and every HostSpec.loadReportMs the controller (a
 * LoadReport on the instance's load subject, client/load.ts; the only subject the host's user
 * may publish it on under the membrane). final() sends both once more when the host drains,
 * the report saying it no longer serves.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeLoadReport, LOAD_REPORT_VERSION, loadSubject, type LoadReport } from '../../client/load.js';
import type { Logger } from '../../runtime/log.js';
import type { CallStats, CallsSnapshot } from './call-stats.js';
import type { FromHost } from './ipc.js';
import type { HostSpec } from './spec.js';

/** How often the agent hears the counts. */
export const AGENT_SNAPSHOT_MS = 1000;
export const DEFAULT_LOAD_REPORT_MS = 1000;

export interface CallReportDeps {
  stats: CallStats;
  spec: HostSpec;
  log: Logger;
  send(m: FromHost): void;
  /** The connection serving now (a renewal replaces it). */
  connection(): NatsConnection | undefined;
  /** Subscribed to the queue groups and not stopping. */
  serving(): boolean;
}

export class CallReports {
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly subject: string;
  private warned = false;

  constructor(private readonly d: CallReportDeps) {
    this.subject = loadSubject(d.spec.namespace, d.spec.provider, d.spec.instance);
  }

  start(): void {
    if (!this.d.stats.enabled) return;
    this.every(AGENT_SNAPSHOT_MS, () => this.toAgent(this.d.stats.snapshot()));
    const loadMs = this.d.spec.loadReportMs ?? DEFAULT_LOAD_REPORT_MS;
    if (loadMs > 0) this.every(loadMs, () => this.publish(this.d.stats.snapshot(), this.d.serving()));
  }

  /** The last word, once the host no longer takes calls: both see the final counts. */
  final(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    if (!this.d.stats.enabled) return;
    const s = this.d.stats.snapshot();
    this.toAgent(s);
    if ((this.d.spec.loadReportMs ?? DEFAULT_LOAD_REPORT_MS) > 0) this.publish(s, false);
  }

  private every(ms: number, f: () => void): void {
    const t = setInterval(f, ms);
    t.unref();
    this.timers.push(t);
  }

  private toAgent(s: CallsSnapshot): void {
    this.d.send({ type: 'calls', stats: s });
  }

  private publish(s: CallsSnapshot, serving: boolean): void {
    const report: LoadReport = {
      v: LOAD_REPORT_VERSION,
      instance: this.d.spec.instance,
      at: Date.now(),
      startedAt: s.startedAt,
      calls: s.calls,
      overloaded: s.overloaded,
      inFlight: s.inFlight,
      busyMs: s.busyMs,
      serving,
    };
    const nc = this.d.connection();
    if (!nc || nc.isClosed()) return;
    try {
      nc.publish(this.subject, encodeLoadReport(report));
    } catch (e) {
      // said once: the next report carries the same cumulative counts
      if (!this.warned) this.d.log.warn({ err: (e as Error).message, subject: this.subject }, 'cannot publish a load report');
      this.warned = true;
    }
  }
}
