/**
 * The agent's trust policy changed at run time (`--trust-configmap`; api/trust-watch.ts), and
 * what that does to instances. Trust only narrows what runs, so an agent fails closed:
 *   - an instance brought up after the change is checked against the policy in force when its
 *     archive was prepared (archive-pipeline.ts) and again just before its host starts
 *     (runner-deps.ts), so a change during a pull cannot slip past;
 *   - a running instance whose archive's issuer the new policy (narrowed by its spec.issuers)
 *     no longer trusts has its host stopped and is `Failed` with reason `UntrustedIssuer`, the
 *     message naming the issuer. Only the signer is judged: dropping another issuer that the
 *     instance's spec.issuers names stops nothing. A compromised issuer is why operators narrow trust: its code
 *     should not keep serving until someone restarts every agent. The controller removes the
 *     Failed instance and places nothing new of that archive (controller/providers/resolve.ts);
 *     widening trust again lets it place new instances, which this agent then runs;
 *   - a widened policy never restarts anything here: it only lets the controller place again.
 *
 *   const trust = new AgentTrust(kube, { namespace, name }, log);
 *   await trust.start(); trust.follow(() => reconciler.runners.values());
 */
import type { ProviderInstance } from '../api/index.js';
import { narrowTrust, TRUST_POLICY_HINT } from '../api/trust.js';
import { TrustWatch } from '../api/trust-watch.js';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import { keyOf } from '../runtime/toolkit/keys.js';
import { InstanceFailure } from './failure.js';

/** The part of an InstanceRunner a trust change acts on. */
export interface TrustedRunner {
  readonly instance: ProviderInstance;
  /** Who signed the archive its host loads (undefined until prepared). */
  readonly issuer?: string;
  revoke(failure: InstanceFailure): void;
}

export class AgentTrust {
  readonly watch: TrustWatch;

  constructor(kube: KubeClient, ref: { namespace: string; name: string }, log: Logger) {
    this.watch = new TrustWatch({ client: kube, ...ref, log });
  }

  /** The issuers in force now. */
  get issuers(): readonly string[] {
    return this.watch.issuers;
  }

  /** Resolves once the ConfigMap was listed: instances start only under the policy in force. */
  start(): Promise<void> {
    return this.watch.start();
  }

  // Stryker disable next-line BlockStatement: as TrustWatch.stop (api/trust-watch.ts)
  stop(): Promise<void> {
    return this.watch.stop();
  }

  /** On every change, the running instances the new policy no longer trusts are stopped. */
  follow(runners: () => Iterable<TrustedRunner>): void {
    this.watch.onChange(() => {
      for (const r of runners()) {
        // one still being prepared is judged when its archive is verified (runner-deps.ts)
        const why = r.issuer === undefined ? undefined : this.untrusted(r.instance, r.issuer);
        if (why) r.revoke(new InstanceFailure('UntrustedIssuer', why));
      }
    });
  }

  /**
   * Why the archive `issuer` signed may no longer run as `inst` under the policy in force now, or
   * undefined. Only the signer is judged: an instance's spec.issuers (the cluster list the
   * controller copied when it made the instance) naming a key the policy has since dropped is
   * narrowed further, not refused — else removing one issuer would stop every instance.
   */
  untrusted(inst: ProviderInstance, issuer: string | undefined): string | undefined {
    const policy = this.watch.issuers;
    // an unknown signer ('') is never in a policy: fail closed
    // Stryker disable next-line StringLiteral: any string that is not an account key is as good as ''
    if (narrowTrust(policy, inst.spec.issuers).trusted.includes(issuer ?? '')) return undefined;
    const digest = inst.spec.archive.digest;
    if (policy.length === 0)
      return `no trusted issuers: ${TRUST_POLICY_HINT} is now empty or gone, so nothing is trusted: the host of archive ${digest} is stopped`;
    return `archive ${digest} is signed by ${issuer ?? 'an unknown issuer'}, which ${TRUST_POLICY_HINT} no longer trusts for ${keyOf({ namespace: inst.metadata.namespace ?? 'default', name: inst.metadata.name })} (changed at run time): its host is stopped; trust only narrows what runs, add the key back to run it again`;
  }
}
