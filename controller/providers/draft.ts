/**
 * What one reconcile is writing: the Provider's next status and conditions, whether to retry
 * with backoff (an error) and when to look again. Each phase adds to it; the status phase
 * writes it.
 */
import type { Condition } from '../../api/common.js';
import type { Provider, ProviderStatus } from '../../api/provider.js';
import { setCondition } from '../../runtime/toolkit/conditions.js';

export type ConditionType = 'Resolved' | 'ConfigResolved' | 'Scheduled' | 'Progressing' | 'Ready';
/** The order `kubectl describe` shows a Provider's conditions in: the order a rollout meets them. */
const PROVIDER_CONDITION_ORDER: readonly ConditionType[] = ['Resolved', 'ConfigResolved', 'Scheduled', 'Progressing', 'Ready'];

export class StatusDraft {
  readonly status: ProviderStatus;
  conditions: Condition[];
  readonly generation: number;
  /** An error to throw at the end, so the work queue retries with backoff. */
  retry: unknown;
  /** Why the API server refused instance creates this reconcile (Scheduled=False says so). */
  createRefused?: string;
  requeueAfterMs = 30_000;

  constructor(p: Provider) {
    this.status = structuredClone(p.status ?? {});
    this.conditions = this.status.conditions ?? [];
    this.generation = p.metadata.generation ?? 0;
  }

  set(type: ConditionType, status: 'True' | 'False', reason: string, message: string): void {
    this.conditions = setCondition(
      this.conditions,
      { type, status, reason, message, observedGeneration: this.generation },
      new Date(),
      PROVIDER_CONDITION_ORDER,
    );
  }

  /** Retry with backoff once the reconcile ends (the first reason wins). */
  retryWith(err: unknown): void {
    this.retry ??= err;
  }

  requeueWithin(ms: number): void {
    this.requeueAfterMs = Math.min(this.requeueAfterMs, ms);
  }
}
