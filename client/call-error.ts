/**
 * The error every failed call ends in (CallError, with a stable code), and how a failed NATS
 * request is recognised as "nobody subscribed" or "the membrane refused": shared by calls
 * (call.ts) and activation requests (activate.ts).
 */
import { errors as natsErrors } from '@nats-io/transport-node';
import type { CallErrorCode } from './protocol.js';

/** The codes a RetryPolicy retries; everything else is final. */
export const RETRYABLE_CODES: readonly CallFailure[] = ['NO_RESPONDERS', 'OVERLOADED', 'NOT_READY', 'CONNECTION_LOST'];

/** Activation answers that say this target cannot be woken: not worth a retry. */
const FINAL_ACTIVATION = ['NOT_FOUND', 'NOT_ACTIVATABLE', 'BAD_REQUEST'];

export type CallFailure = CallErrorCode | 'BAD_TARGET' | 'CONNECTION' | 'CONNECTION_LOST';

export class CallError extends Error {
  override name = 'CallError';
  constructor(
    readonly code: CallFailure,
    message: string,
    /** The instance that answered with the error, when one did. */
    readonly instance?: string,
    /** The provider's own return code for PROVIDER_ERROR (gantry_provider.h). */
    readonly providerCode?: number,
    /** How many attempts were made (more than 1 under a retry policy). */
    public attempts = 1,
  ) {
    super(message);
  }

  /**
   * Set when the call found no responder and asking to activate its target failed too
   * (client/activate.ts): the activation's own code (NOT_FOUND, NOT_ACTIVATABLE, TIMEOUT,
   * BAD_REQUEST, ACTIVATION_FAILED), or NO_ACTIVATOR when nobody answered the activation
   * request, or FORBIDDEN when the membrane refused it.
   */
  activation?: string;

  /**
   * Whether a retry policy would try this call again (RETRYABLE_CODES), unless activation
   * answered that this target cannot be woken (no point in asking again within one deadline).
   */
  get retryable(): boolean {
    return RETRYABLE_CODES.includes(this.code) && !FINAL_ACTIVATION.includes(this.activation ?? '');
  }
}

/** Whether a failed NATS request found nobody subscribed (the client reports it in three shapes). */
export function isNoResponders(e: unknown): boolean {
  const cause = (e as { cause?: unknown }).cause;
  return (
    e instanceof natsErrors.NoRespondersError ||
    cause instanceof natsErrors.NoRespondersError ||
    (e instanceof natsErrors.RequestError && e.isNoResponders())
  );
}

/**
 * Whether NATS refused on permissions or credentials: a publish the caller's JWT does not
 * allow (nats.js rejects the request with the server's -ERR), or a connection closed because
 * its credentials expired or were revoked.
 */
export function isForbidden(e: unknown): boolean {
  const err = e as Error;
  const cause = (err as { cause?: unknown }).cause;
  return (
    [err, cause].some(
      (x) =>
        x instanceof natsErrors.PermissionViolationError ||
        x instanceof natsErrors.AuthorizationError ||
        x instanceof natsErrors.UserAuthenticationExpiredError,
    ) ||
    /permissions violation|authorization violation|authentication (expired|revoked)/i.test(
      `${err?.message ?? ''} ${(cause as Error | undefined)?.message ?? ''}`,
    )
  );
}
