/**
 * Why an instance could not be brought up, in the words its status uses. Every error the
 * fetch → verify → extract → load pipeline can raise becomes a stable `reason` (the CamelCase
 * word a person greps for in `kubectl get providerinstance -o yaml`) and whether retrying
 * could help: a bad signature never heals, an unreachable registry may. The words and the
 * code → reason table are api/reasons.ts, shared with the controller; only the fallback by
 * pipeline stage, for errors without a known code, is the agent's own.
 */
import { INSTANCE_FAILURE_REASONS, reasonsForCode, type InstanceFailureReason } from '../api/reasons.js';

/** Every reason, in one place (metrics report each one from the start). */
export const FAILURE_REASONS = INSTANCE_FAILURE_REASONS;
export type FailureReason = InstanceFailureReason;

export class InstanceFailure extends Error {
  constructor(
    readonly reason: FailureReason,
    message: string,
    /** True when trying again later could succeed (network, registry outage). */
    readonly retryable = false,
  ) {
    super(message);
    this.name = 'InstanceFailure';
  }
}

/** Classify any error thrown while preparing or starting an instance. */
export function classify(err: unknown, stage: 'fetch' | 'verify' | 'start'): InstanceFailure {
  if (err instanceof InstanceFailure) return err;
  const e = err as { code?: unknown; message?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = e?.message ?? String(err);
  const hit = reasonsForCode(code);
  if (hit?.instance) return new InstanceFailure(hit.instance, message, hit.transient);
  if (code?.includes('CAPID')) return new InstanceFailure('CapabilityMismatch', message, false);
  if (code?.includes('ABI')) return new InstanceFailure('AbiMismatch', message, false);
  if (stage === 'fetch') return new InstanceFailure('FetchFailed', message, true);
  if (stage === 'verify') return new InstanceFailure('InvalidArchive', message, false);
  return new InstanceFailure('LoadFailed', message, false);
}
