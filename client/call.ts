/**
 * Calling a provider over NATS, from the caller's side (`gantry call`, tests, services).
 *
 * Address exactly one of: a Provider by name (load-balanced over its Ready instances), one
 * instance, or a capability id (+ link name, default "default"). The operation and the calling
 * actor travel in headers, the payload as bytes. Every answer names the instance that served
 * it. Failures are CallError with a stable code: NO_RESPONDERS (nobody subscribed), TIMEOUT
 * (local deadline, or the instance's own per-call deadline), PAYLOAD_TOO_LARGE (the instance's
 * cap, or the server's max_payload before anything was sent), UNAUTHORIZED (NATS permissions
 * or the provider refusing the actor), and the errors instances put in Gantry-Error.
 *
 *   const { instance, reply } = await callProvider(nc, { namespace: 'default', provider: 'kv', op: 'Get', data: '{"key":"a"}' });
 */
import { errors as natsErrors, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import {
  CallErrorCodes, HEADER_ACTOR, HEADER_ERROR, HEADER_ERROR_MESSAGE, HEADER_INSTANCE, HEADER_OP, HEADER_PROVIDER_CODE, HEADER_TIMEOUT,
  capabilitySubject, instanceSubject, providerSubject, type CallErrorCode,
} from './protocol.js';

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
  /** The calling actor's identity (Gantry-Actor). */
  actor?: string;
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

/** The NATS subject a target resolves to. Throws CallError BAD_TARGET unless exactly one is given. */
export function callSubject(t: CallTarget): string {
  const given = [t.provider, t.instance, t.capid].filter((x) => x !== undefined && x !== '');
  if (given.length !== 1) throw new CallError('BAD_TARGET', 'name exactly one of provider, instance or capid to call');
  if (!t.namespace) throw new CallError('BAD_TARGET', 'a namespace is required');
  if (t.instance) return instanceSubject(t.namespace, t.instance);
  if (t.provider) return providerSubject(t.namespace, t.provider);
  return capabilitySubject(t.namespace, t.capid!, t.link || undefined);
}

function describe(t: CallTarget): string {
  if (t.instance) return `instance ${t.namespace}/${t.instance}`;
  if (t.provider) return `provider ${t.namespace}/${t.provider}`;
  return `capability ${t.capid} (link ${t.link || 'default'}) in ${t.namespace}`;
}

export async function callProvider(nc: NatsConnection, o: CallOptions): Promise<CallResult> {
  const subject = callSubject(o);
  if (!o.op) throw new CallError('BAD_TARGET', 'an operation is required');
  const timeout = o.timeoutMs ?? 5000;
  const data = typeof o.data === 'string' ? new TextEncoder().encode(o.data) : (o.data ?? new Uint8Array(0));
  const max = nc.info?.max_payload;
  if (max !== undefined && data.length > max) {
    throw new CallError('PAYLOAD_TOO_LARGE', `payload of ${data.length} bytes exceeds the NATS server's max_payload of ${max}`);
  }
  const h = natsHeaders();
  h.set(HEADER_OP, o.op);
  if (o.actor) h.set(HEADER_ACTOR, o.actor);
  h.set(HEADER_TIMEOUT, String(timeout));

  let msg: Msg;
  try {
    msg = await nc.request(subject, data, { headers: h, timeout });
  } catch (e) {
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

function translate(e: unknown, o: CallTarget, timeout: number): CallError {
  const err = e as Error;
  const cause = (err as { cause?: unknown }).cause;
  if (isNoResponders(err)) {
    return new CallError('NO_RESPONDERS', `no Ready instance answers for ${describe(o)} (nothing subscribed to ${callSubject(o)})`);
  }
  if (err instanceof natsErrors.TimeoutError || cause instanceof natsErrors.TimeoutError) {
    return new CallError('TIMEOUT', `${describe(o)} did not answer within ${timeout} ms`);
  }
  if (err instanceof natsErrors.PermissionViolationError || cause instanceof natsErrors.PermissionViolationError || err instanceof natsErrors.AuthorizationError) {
    return new CallError('UNAUTHORIZED', `not allowed to call ${describe(o)}: ${err.message}`);
  }
  if (/max_payload|MAX_PAYLOAD/i.test(err.message)) {
    return new CallError('PAYLOAD_TOO_LARGE', `${describe(o)}: ${err.message}`);
  }
  return new CallError('CONNECTION', `calling ${describe(o)} failed: ${err.message}`);
}
