/**
 * What the node agent tells Prometheus (prom-client, one Registry per agent, never the global
 * one, so several agents can share a process in tests). Served with /healthz and /readyz by
 * runtime/metrics-server.ts when the agent is given `--metrics-addr`.
 *
 *   gantry_agent_instances{phase}                        instances this agent runs, by phase
 *   gantry_agent_host_restarts_total{reason,exit_kind}   provider host crashes the agent restarted
 *   gantry_agent_instance_failures_total{reason}         failures, by agent/failure.ts reason
 *   gantry_agent_archive_fetch_duration_seconds{source,result}  archive from cache or registry
 *   gantry_agent_archive_verify_duration_seconds{result}   checks against the instance + extract
 *   gantry_agent_archive_cache_requests_total{result}    hit (from disk) / miss (pulled)
 *   gantry_agent_lease_renew_failures_total              failed Lease renewals
 *   gantry_agent_lease_last_renew_timestamp_seconds      unix time of the last good renewal
 *   gantry_agent_memory_cgroup                           1: the kernel caps hosts (--host-cgroup), 0: RSS polling
 *   gantry_trust_policy_valid, gantry_trusted_issuers, gantry_trust_policy_refusals_total
 *                                                        the watched trust policy (runtime/trust-metrics.ts)
 *   gantry_provider_calls_total, gantry_provider_call_duration_seconds, gantry_provider_calls_in_flight
 *                                                        the calls the hosts answered (call-metrics.ts)
 *   plus prom-client's default process metrics (gantry_agent_ prefix not applied to those).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ProviderCallMetrics } from './call-metrics.js';
import { FAILURE_REASONS } from './failure.js';
import type { InstancePhase } from './status.js';

export const INSTANCE_PHASES: readonly InstancePhase[] = [
  'Pending',
  'Fetching',
  'Verifying',
  'Starting',
  'Running',
  'Failed',
  'Terminating',
];

const durationBuckets = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class AgentMetrics {
  readonly registry = new Registry();
  readonly instances: Gauge<'phase'>;
  readonly hostRestarts = new Counter({
    name: 'gantry_agent_host_restarts_total',
    help: 'Provider host processes that exited unasked and were restarted, by reason (the error the host reported, else CRASHED) and exit kind (signal or status)',
    labelNames: ['reason', 'exit_kind'],
    registers: [this.registry],
  });
  readonly instanceFailures = new Counter({
    name: 'gantry_agent_instance_failures_total',
    help: 'Attempts to bring up or keep up an instance that failed, by status reason (retryable ones count once per attempt)',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly fetchDuration = new Histogram({
    name: 'gantry_agent_archive_fetch_duration_seconds',
    help: 'Time to get a verified archive (signature, issuer, target hash) from the node cache or the registry',
    labelNames: ['source', 'result'],
    buckets: durationBuckets,
    registers: [this.registry],
  });
  readonly verifyDuration = new Histogram({
    name: 'gantry_agent_archive_verify_duration_seconds',
    help: 'Time to check a fetched archive against its instance (capid, target) and write the verified library',
    labelNames: ['result'],
    buckets: durationBuckets,
    registers: [this.registry],
  });
  readonly cacheRequests = new Counter({
    name: 'gantry_agent_archive_cache_requests_total',
    help: 'Archive fetches served from the node cache (hit) or pulled from the registry (miss)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly leaseRenewFailures = new Counter({
    name: 'gantry_agent_lease_renew_failures_total',
    help: "Failed renewals of this node's agent Lease",
    registers: [this.registry],
  });
  readonly leaseLastRenew = new Gauge({
    name: 'gantry_agent_lease_last_renew_timestamp_seconds',
    help: "Unix time of the last successful renewal of this node's agent Lease",
    registers: [this.registry],
  });

  readonly memoryCgroup = new Gauge({
    name: 'gantry_agent_memory_cgroup',
    help: "1 when each host's resources.memory is a memory cgroup limit the kernel enforces (--host-cgroup), 0 when the agent polls RSS",
    registers: [this.registry],
  });

  /** The calls the hosts answered, per Provider (call-metrics.ts). */
  readonly calls = new ProviderCallMetrics(this.registry);

  constructor(opts: { defaults?: boolean; phases?: () => Iterable<InstancePhase> } = {}) {
    if (opts.defaults) collectDefaultMetrics({ register: this.registry });
    const phases = opts.phases ?? (() => []);
    this.instances = new Gauge({
      name: 'gantry_agent_instances',
      help: 'ProviderInstances this agent runs, by phase',
      labelNames: ['phase'],
      registers: [this.registry],
      // counted at scrape time from the runner table, so the gauge can never drift from it
      collect() {
        const n = new Map<InstancePhase, number>(INSTANCE_PHASES.map((p) => [p, 0]));
        for (const p of phases()) n.set(p, (n.get(p) ?? 0) + 1);
        for (const [phase, count] of n) this.set({ phase }, count);
      },
    });
    // every known reason present from the start, so rate() and absent() behave before the first failure
    for (const reason of FAILURE_REASONS) this.instanceFailures.inc({ reason }, 0);
    for (const result of ['hit', 'miss']) this.cacheRequests.inc({ result }, 0);
  }
}
