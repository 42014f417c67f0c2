/**
 * Calling a provider over NATS, from the caller's side (`gantry call`, tests, services).
 *
 * Address exactly one of: a Provider by name (load-balanced over its Ready instances), one
 * instance of a Provider (provider + instance), or a capability id (+ link name, default
 * "default"). The operation and the caller's NATS user key are the subject's last two tokens
 * (protocol v2), the payload is bytes. Every answer names the instance that served it.
 * Failures are CallError with a stable code: FORBIDDEN (the membrane refused: no grant for
 * this call, or it expired or was revoked — never a timeout), NO_RESPONDERS (nobody
 * subscribed), TIMEOUT (local deadline, or the instance's own per-call deadline),
 * PAYLOAD_TOO_LARGE (the instance's cap, or the server's max_payload before anything was
 * sent), UNAUTHORIZED (the provider refusing the caller), and the errors instances put in
 * Gantry-Error.
 *
 *   const { instance, reply } = await callProvider(nc, { namespace: 'default', provider: 'kv', op: 'Get', data: '{"key":"a"}' });
 */
import { errors as natsErrors, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import {
  ANONYMOUS_CALLER, CallErrorCodes, HEADER_ERROR, HEADER_ERROR_MESSAGE, HEADER_INSTANCE, HEADER_PROVIDER_CODE, HEADER_TIMEOUT,
  callSubjectFor, capabilitySubject, instanceSubject, providerSubject, type CallErrorCode,
} from './protocol.js';
import { authRefusal, callerKey } from './nats.js';

export interface CallTarget {
  namespace: string;
  provider?: string;
  instance?: string;
  capid?: string;
  link?: string;
}

export interface CallOptions extends CallTarget {
  op: string;
  data?: Uint8Array | string;
  /**
   * The caller's NATS user public key (U…), the subject's last token; default the key the
   * connection authenticated with (connectNats), else "anonymous". Under the membrane only
   * one's own key is allowed here.
   */
  caller?: string;
  /** Default 5000 ms. Also sent to the instance, which gives up at the same deadline. */
  timeoutMs?: number;
}

export interface CallResult {
  instance: string;
  reply: Uint8Array;
}

export type CallFailure = CallErrorCode | 'BAD_TARGET' | 'CONNECTION';

export class CallError extends Error {
  override name = 'CallError';
  constructor(
    readonly code: CallFailure,
    message: string,
    /** The instance that answered with the error, when one did. */
    readonly instance?: string,
    /** The provider's own return code for PROVIDER_ERROR (gantry_provider.h). */
    readonly providerCode?: number,
  ) {
    super(message);
  }
}

/**
 * The subject base a target resolves to (the call goes to `<base>.<op>.<caller>`). Throws
 * CallError BAD_TARGET unless it names a provider, a provider and one of its instances, or a
 * capability id.
 */
export function callSubject(t: CallTarget): string {
  if (!t.namespace) throw new CallError('BAD_TARGET', 'a namespace is required');
  if (t.instance) {
    if (!t.provider || t.capid) throw new CallError('BAD_TARGET', 'an instance is called with its provider (name both, and no capid)');
    return instanceSubject(t.namespace, t.provider, t.instance);
  }
  const given = [t.provider, t.capid].filter((x) => x !== undefined && x !== '');
  if (given.length !== 1) throw new CallError('BAD_TARGET', 'name exactly one of provider (optionally with instance) or capid to call');
  if (t.provider) return providerSubject(t.namespace, t.provider);
  return capabilitySubject(t.namespace, t.capid!, t.link || undefined);
}

function describe(t: CallTarget): string {
  if (t.instance) return `instance ${t.namespace}/${t.instance}`;
  if (t.provider) return `provider ${t.namespace}/${t.provider}`;
  return `capability ${t.capid} (link ${t.link || 'default'}) in ${t.namespace}`;
}

export async function callProvider(nc: NatsConnection, o: CallOptions): Promise<CallResult> {
  if (!o.op) throw new CallError('BAD_TARGET', 'an operation is required');
  const subject = callSubjectFor(callSubject(o), o.op, o.caller ?? callerKey(nc) ?? ANONYMOUS_CALLER);
  const timeout = o.timeoutMs ?? 5000;
  const data = typeof o.data === 'string' ? new TextEncoder().encode(o.data) : (o.data ?? new Uint8Array(0));
  const max = nc.info?.max_payload;
  if (max !== undefined && data.length > max) {
    throw new CallError('PAYLOAD_TOO_LARGE', `payload of ${data.length} bytes exceeds the NATS server's max_payload of ${max}`);
  }
  const h = natsHeaders();
  h.set(HEADER_TIMEOUT, String(timeout));

  let msg: Msg;
  try {
    msg = await nc.request(subject, data, { headers: h, timeout });
  } catch (e) {
    // A connection the server closed for expired or revoked credentials refuses every request
    // with "connection closed": say why it was closed.
    if (nc.isClosed()) {
      const why = (await nc.closed()) || undefined;
      const refused = why && isForbidden(why) ? why : authRefusal(nc);
      if (refused) throw translate(refused, o, timeout);
    }
    throw translate(e, o, timeout);
  }
  const instance = msg.headers?.get(HEADER_INSTANCE) ?? '';
  const code = msg.headers?.get(HEADER_ERROR);
  if (code) {
    const known = (CallErrorCodes as readonly string[]).includes(code) ? (code as CallErrorCode) : 'PROVIDER_ERROR';
    const pc = msg.headers?.get(HEADER_PROVIDER_CODE);
    throw new CallError(known, `${describe(o)}${instance ? ` (instance ${instance})` : ''}: ${code}: ${msg.headers?.get(HEADER_ERROR_MESSAGE) || 'no message'}`, instance || undefined, pc ? Number(pc) : undefined);
  }
  return { instance, reply: msg.data };
}

/** Whether a failed NATS request found nobody subscribed (the client reports it in three shapes). */
export function isNoResponders(e: unknown): boolean {
  const cause = (e as { cause?: unknown }).cause;
  return e instanceof natsErrors.NoRespondersError || cause instanceof natsErrors.NoRespondersError
    || (e instanceof natsErrors.RequestError && e.isNoResponders());
}

/**
 * Whether NATS refused on permissions or credentials: a publish the caller's JWT does not
 * allow (nats.js rejects the request with the server's -ERR), or a connection closed because
 * its credentials expired or were revoked.
 */
export function isForbidden(e: unknown): boolean {
  const err = e as Error;
  const cause = (err as { cause?: unknown }).cause;
  return [err, cause].some((x) => x instanceof natsErrors.PermissionViolationError || x instanceof natsErrors.AuthorizationError
    || x instanceof natsErrors.UserAuthenticationExpiredError)
    || /permissions violation|authorization violation|authentication (expired|revoked)/i.test(`${err?.message ?? ''} ${(cause as Error | undefined)?.message ?? ''}`);
}

function translate(e: unknown, o: CallTarget, timeout: number): CallError {
  const err = e as Error;
  const cause = (err as { cause?: unknown }).cause;
  if (isNoResponders(err)) {
    return new CallError('NO_RESPONDERS', `no Ready instance answers for ${describe(o)} (nothing subscribed to ${callSubject(o)})`);
  }
  if (err instanceof natsErrors.TimeoutError || cause instanceof natsErrors.TimeoutError) {
    return new CallError('TIMEOUT', `${describe(o)} did not answer within ${timeout} ms`);
  }
  if (isForbidden(err)) {
    return new CallError('FORBIDDEN', `the membrane refused this call to ${describe(o)}: ${err.message}; it needs a CapabilityGrant for this operation that has not expired or been revoked (gantry grant creds)`);
  }
  if (/max_payload|MAX_PAYLOAD/i.test(err.message)) {
    return new CallError('PAYLOAD_TOO_LARGE', `${describe(o)}: ${err.message}`);
  }
  return new CallError('CONNECTION', `calling ${describe(o)} failed: ${err.message}`);
}
