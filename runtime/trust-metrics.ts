/**
 * The watched trust policy (--trust-configmap; api/trust-watch.ts) as Prometheus sees it, on the
 * controller's and each agent's /metrics, so an operator can alert on a refused policy rather than
 * read it from a log line or an Event:
 *
 *   gantry_trust_policy_valid            1: the ConfigMap as written is in force; 0: its last
 *                                        update was refused (the last valid policy stays) or it
 *                                        does not exist (nothing is trusted)
 *   gantry_trusted_issuers               issuers the policy in force trusts (0: nothing is trusted)
 *   gantry_trust_policy_refusals_total   updates refused, and each time the ConfigMap was found missing
 *
 * Registered before the watch starts, so a policy missing at start is counted. With a static
 * --trust-issuer list there is nothing to watch and none of these is registered.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the metrics read of a trust watch (TrustWatch implements it). */
export interface WatchedTrust {
  readonly issuers: readonly string[];
  /** Set while the last update was refused or the ConfigMap is missing. */
  readonly problem?: string;
  onError(fn: (message: string) => void): void;
}

export function registerTrustMetrics(registry: Registry, trust: WatchedTrust): void {
  new Gauge({
    name: 'gantry_trust_policy_valid',
    help: '1 when the watched trust ConfigMap is in force as written; 0 while its last update is refused or it is missing',
    registers: [registry],
    collect() {
      this.set(trust.problem === undefined ? 1 : 0);
    },
  });
  new Gauge({
    name: 'gantry_trusted_issuers',
    help: 'Issuers the trust policy in force trusts (0: nothing is trusted)',
    registers: [registry],
    collect() {
      this.set(trust.issuers.length);
    },
  });
  const refusals = new Counter({
    name: 'gantry_trust_policy_refusals_total',
    help: 'Trust policy updates refused as malformed, and times the trust ConfigMap was found missing',
    registers: [registry],
  });
  trust.onError(() => refusals.inc());
}
