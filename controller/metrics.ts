/**
 * Prometheus metrics (prom-client, one registry per controller so two can share a process in
 * tests), served with /healthz and /readyz by runtime/metrics-server.ts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { serveMetrics as serveRegistry, type MetricsServer } from '../runtime/metrics-server.js';

export type { MetricsServer };

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly reconcileDuration = new Histogram({
    name: 'gantry_controller_reconcile_duration_seconds',
    help: 'Time to reconcile one Provider',
    labelNames: ['result'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'gantry_controller_queue_depth',
    help: 'Provider keys waiting in the work queue',
    registers: [this.registry],
  });
  readonly placements = new Counter({
    name: 'gantry_controller_placements_total',
    help: 'ProviderInstances created (bound to a node)',
    registers: [this.registry],
  });
  readonly removals = new Counter({
    name: 'gantry_controller_instance_removals_total',
    help: 'ProviderInstances removed, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'gantry_controller_failures_total',
    help: 'Reconcile and resolve failures, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly unplaced = new Gauge({
    name: 'gantry_controller_unplaced_replicas',
    help: 'Replicas that could not be placed, summed over Providers',
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'gantry_controller_api_requests_total',
    help: 'Kubernetes API requests (watches excluded), by method and resource',
    labelNames: ['method', 'resource'],
    registers: [this.registry],
  });
  readonly logChecks = new Counter({
    name: 'gantry_log_checks_total',
    help: 'Transparency-log checks of resolved revisions, by result (verified, no_log, inconsistent, missing, error)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly logInconsistencies = new Counter({
    name: 'gantry_log_inconsistencies_total',
    help: 'LogInconsistent findings, by evidence code (TLOG_FORK, TLOG_ROLLBACK, TLOG_TAG_MISMATCH, TLOG_NOTE_BAD_SIGNATURE, …)',
    labelNames: ['code'],
    registers: [this.registry],
  });
  readonly logTreeSize = new Gauge({
    name: 'gantry_log_verified_tree_size',
    help: 'Size of the latest checkpoint accepted, by log origin',
    labelNames: ['origin'],
    registers: [this.registry],
  });
  readonly logCheckDuration = new Histogram({
    name: 'gantry_log_check_duration_seconds',
    help: 'Time to check a resolved revision against its log (reading the log when not cached)',
    buckets: [0.001, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'gantry_controller_is_leader',
    help: '1 when this controller holds the leader Lease',
    registers: [this.registry],
  });

  readonly membranePushes = new Counter({
    name: 'gantry_membrane_account_pushes_total',
    help: 'Pushes of the gantry account JWT (revocations) to NATS, by result (ok, PUSH_FAILED, REVOCATIONS_TOO_LARGE)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly membraneRevocations = new Gauge({
    name: 'gantry_membrane_revocations',
    help: 'Entries in the revocation list of the last account push (after pruning)',
    registers: [this.registry],
  });
  readonly membraneAccountJwtBytes = new Gauge({
    name: 'gantry_membrane_account_jwt_bytes',
    help: "Size of the last account JWT pushed (compare with the servers' max_payload)",
    registers: [this.registry],
  });

  readonly autoscaleScales = new Counter({
    name: 'gantry_autoscale_scales_total',
    help: 'spec.replicas changes written by the autoscaler, by reason (ScaledUp, ScaledDown, ScaledToZero, Activated)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly loadReports = new Counter({
    name: 'gantry_autoscale_load_reports_total',
    help: 'Load reports received on the bus, by result (recorded, restarted, out-of-order, malformed, foreign-instance)',
    labelNames: ['result'],
    registers: [this.registry],
  });

  constructor(defaults = false) {
    if (defaults) collectDefaultMetrics({ register: this.registry });
  }
}

/** Serves /metrics, /healthz (process alive) and /readyz (caches synced) on ADDR (host:port). */
export function serveMetrics(addr: string, metrics: ControllerMetrics, ready: () => boolean): Promise<MetricsServer> {
  return serveRegistry(addr, metrics.registry, { ready: () => ready() || 'caches not synced' });
}
