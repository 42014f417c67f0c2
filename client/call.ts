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
 * sent), UNAUTHORIZED (the provider refusing the caller), CONNECTION_LOST (the connection's
 * server went away while the call was in flight: it fails at once rather than at its
 * timeout; the call may or may not have run) and the errors instances put in Gantry-Error.
 *
 * The retry policy (`retry`, docs/protocol.md "Retrying calls") retries NO_RESPONDERS,
 * NOT_READY, OVERLOADED and CONNECTION_LOST with jittered exponential backoff, every attempt
 * inside the one deadline `timeoutMs`; it never retries PROVIDER_ERROR, FORBIDDEN,
 * UNAUTHORIZED, BAD_REQUEST, PAYLOAD_TOO_LARGE or TIMEOUT (the provider answered, or may be
 * running it still).
 *
 * Activation (`activate`, default on for a Provider or a capability): a call that finds no
 * responder asks the controller once to wake its target from zero and calls again within the
 * same deadline (client/activate.ts, docs/protocol.md "Activation").
 *
 * Tracing: when the process registered an OpenTelemetry SDK, the whole call is one span
 * `gantry.call` and every request carries its traceparent (client/trace.ts, docs/protocol.md
 * "Trace context"); without one, nothing is sent.
 *
 *   const { instance, reply } = await callProvider(nc, { namespace: 'default', provider: 'kv', op: 'Get', data: '{"key":"a"}' });
 */
import { errors as natsErrors, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import {
  ANONYMOUS_CALLER,
  CallErrorCodes,
  HEADER_ERROR,
  HEADER_ERROR_MESSAGE,
  HEADER_INSTANCE,
  HEADER_PROVIDER_CODE,
  HEADER_TIMEOUT,
  callSubjectFor,
  capabilitySubject,
  instanceSubject,
  providerSubject,
  type CallErrorCode,
} from './protocol.js';
import { authRefusal, callerKey, onConnectionLost, whenConnected } from './nats.js';
import { requestActivation } from './activate.js';
import { CallError, isForbidden, isNoResponders, RETRYABLE_CODES } from './call-error.js';
import { injectCallTrace, traceCall } from './trace.js';

export { CallError, isForbidden, isNoResponders, RETRYABLE_CODES, type CallFailure } from './call-error.js';

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
  /**
   * The caller's deadline for the whole call, retries included; default 5000 ms. Each attempt
   * sends the instance what is left of it, and the instance gives up at the same deadline.
   */
  timeoutMs?: number;
  /** Retry what is safe to retry (see RetryPolicy); default: one attempt. A number is `{ retries: n }`. */
  retry?: RetryPolicy | number;
  /**
   * A call to a Provider or a capability (not to one instance) that finds no responder asks
   * the controller, once per call, to activate its target (scale it from zero) and calls again
   * when an instance is Ready, all within the call's deadline (client/activate.ts). Default
   * true; false fails NO_RESPONDERS at once.
   */
  activate?: boolean;
}

/**
 * When a failed call is tried again: only codes that say the call did not reach a provider
 * that ran it (NO_RESPONDERS, OVERLOADED), or that it may have been cut short around it
 * (NOT_READY: the instance was stopping; CONNECTION_LOST: the server went away with the call
 * in flight). The last two can mean the operation ran once already, so a caller of an
 * operation that is not idempotent sets `onConnectionLoss: false` and handles them itself.
 */
export interface RetryPolicy {
  /** Attempts after the first (0 = no retry). */
  retries: number;
  /** The first backoff; it doubles per attempt up to maxDelayMs, and each wait is uniformly random below it (full jitter). Default 50 ms. */
  baseDelayMs?: number;
  /** Default 1000 ms. */
  maxDelayMs?: number;
  /** Also retry NOT_READY and CONNECTION_LOST (default true). */
  onConnectionLoss?: boolean;
  /**
   * Give each attempt only this long (default: all that is left of the deadline). An attempt
   * no instance answered in time (a caller-side TIMEOUT: its instance may have crashed with
   * the call, or lost its NATS server) is then retried like a lost connection — it may have
   * run — so only with onConnectionLoss. For idempotent operations under a deadline that is
   * several times a normal call's latency.
   */
  attemptTimeoutMs?: number;
}

export interface CallResult {
  instance: string;
  reply: Uint8Array;
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

/** One call, retries and activation included, inside its `gantry.call` span when tracing is on (trace.ts). */
export function callProvider(nc: NatsConnection, o: CallOptions): Promise<CallResult & { attempts: number }> {
  return traceCall(
    o,
    () => callSubjectFor(callSubject(o), o.op, o.caller ?? callerKey(nc) ?? ANONYMOUS_CALLER),
    () => callAttempts(nc, o),
  );
}

async function callAttempts(nc: NatsConnection, o: CallOptions): Promise<CallResult & { attempts: number }> {
  if (!o.op) throw new CallError('BAD_TARGET', 'an operation is required');
  const timeout = o.timeoutMs ?? 5000;
  const policy = typeof o.retry === 'number' ? { retries: o.retry } : (o.retry ?? { retries: 0 });
  if (!Number.isInteger(policy.retries) || policy.retries < 0)
    throw new CallError('BAD_TARGET', `retries must be a whole number ≥ 0, got ${policy.retries}`);
  const retryable = policy.onConnectionLoss === false ? ['NO_RESPONDERS', 'OVERLOADED'] : RETRYABLE_CODES;
  const perAttempt = policy.attemptTimeoutMs;
  if (perAttempt !== undefined && !(perAttempt > 0))
    throw new CallError('BAD_TARGET', `attemptTimeoutMs must be positive, got ${perAttempt}`);
  const base = policy.baseDelayMs ?? 50;
  const cap = policy.maxDelayMs ?? 1000;
  const started = Date.now();
  const deadline = started + timeout;
  const activation = { wanted: o.activate !== false && !o.instance, asked: false };
  for (let attempt = 1; ; attempt++) {
    const left = Math.max(1, deadline - Date.now());
    const had = perAttempt !== undefined ? Math.min(perAttempt, left) : left;
    try {
      return { ...(await callOrActivate(nc, o, had, timeout, deadline, activation)), attempts: attempt };
    } catch (e) {
      if (!(e instanceof CallError)) throw e;
      e.attempts = attempt;
      // an attempt cut short by attemptTimeoutMs that no instance answered (not even TIMEOUT)
      const unanswered = e.code === 'TIMEOUT' && !e.instance && perAttempt !== undefined && had < timeout;
      const again = (retryable.includes(e.code) && e.retryable) || (policy.onConnectionLoss !== false && unanswered);
      if (attempt > policy.retries || !again) throw e;
      const wait = Math.random() * Math.min(cap, base * 2 ** (attempt - 1));
      // a retry that could not finish before the deadline is not worth starting
      if (Date.now() + wait + 1 >= deadline) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * One attempt; when it finds no responder and activation is wanted and not yet asked for in
 * this call, ask once, then call again — and once more if that still finds nobody (the host
 * reports Ready a moment after it subscribes, but a reply can overtake the subscription's
 * propagation to this client's server). Never a loop: the retry policy decides the rest.
 */
async function callOrActivate(
  nc: NatsConnection,
  o: CallOptions,
  had: number,
  overall: number,
  deadline: number,
  activation: { wanted: boolean; asked: boolean },
): Promise<CallResult> {
  try {
    return await callOnce(nc, o, had, overall);
  } catch (e) {
    if (!(e instanceof CallError) || e.code !== 'NO_RESPONDERS' || !activation.wanted || activation.asked) throw e;
    activation.asked = true;
    const caller = o.caller ?? callerKey(nc) ?? ANONYMOUS_CALLER;
    await requestActivation(nc, o, caller, leftOf(deadline)).catch((err: unknown) => {
      // the request was lost with its server, unanswered: a retry may ask again
      if (err instanceof CallError && err.code === 'CONNECTION_LOST') activation.asked = false;
      throw err;
    });
    return await callWoken(nc, o, overall, deadline);
  }
}

/**
 * The call after its target was woken. Everyone who called while it was at zero calls the one
 * new instance at about the same moment, and a burst over its in-flight limit is refused
 * OVERLOADED — before the provider ran anything, so it is safe to send again: retried with
 * jittered backoff (20 ms doubling to 500 ms) until it is served or the deadline passes. A
 * NO_RESPONDERS is tried once more (the reply can overtake the subscription's propagation).
 */
async function callWoken(nc: NatsConnection, o: CallOptions, overall: number, deadline: number): Promise<CallResult> {
  let noResponders = 0;
  for (let n = 0; ; n++) {
    try {
      return await callOnce(nc, o, leftOf(deadline), overall);
    } catch (e) {
      if (!(e instanceof CallError)) throw e;
      if (e.code === 'NO_RESPONDERS' && noResponders++ === 0) continue;
      if (e.code !== 'OVERLOADED') throw e;
      const wait = Math.random() * Math.min(500, 20 * 2 ** n);
      if (Date.now() + wait + 1 >= deadline) throw e;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

const leftOf = (deadline: number) => Math.max(1, deadline - Date.now());

async function callOnce(nc: NatsConnection, o: CallOptions, timeout: number, overall: number): Promise<CallResult> {
  const subject = callSubjectFor(callSubject(o), o.op, o.caller ?? callerKey(nc) ?? ANONYMOUS_CALLER);
  const data = typeof o.data === 'string' ? new TextEncoder().encode(o.data) : (o.data ?? new Uint8Array(0));
  const max = nc.info?.max_payload;
  if (max !== undefined && data.length > max) {
    throw new CallError('PAYLOAD_TOO_LARGE', `payload of ${data.length} bytes exceeds the NATS server's max_payload of ${max}`);
  }
  // while the client reconnects (its server was lost), wait for it rather than send into its
  // buffer: a reply to a request sent across the switch can be lost and surface only as TIMEOUT
  const started = Date.now();
  if (!(await whenConnected(nc, timeout))) {
    throw new CallError(
      'CONNECTION_LOST',
      `no NATS server took the connection back within ${timeout} ms while calling ${describe(o)}; the call was not sent`,
    );
  }
  timeout = Math.max(1, timeout - (Date.now() - started));
  const h = natsHeaders();
  h.set(HEADER_TIMEOUT, String(timeout));
  injectCallTrace(h);

  let msg: Msg;
  let stopWatching = () => {};
  try {
    // The reply to a request in flight when the server is lost can never arrive (its reply
    // subscription was on that server): fail it now, retryable, instead of at the deadline.
    const lost = new Promise<never>((_, reject) => {
      stopWatching = onConnectionLost(nc, (server) => {
        // a server that drops the connection for expired or revoked credentials said so first
        const refused = authRefusal(nc);
        reject(
          refused
            ? translate(refused, o, overall)
            : new CallError(
                'CONNECTION_LOST',
                `the connection to NATS server ${server} was lost while calling ${describe(o)}; the call may or may not have run (the client reconnects to another server)`,
              ),
        );
      });
    });
    const req = nc.request(subject, data, { headers: h, timeout });
    req.catch(() => {}); // when the loss wins, the request's own timeout rejection is nobody's
    msg = await Promise.race([req, lost]);
  } catch (e) {
    if (e instanceof CallError) throw e;
    // A connection the server closed for expired or revoked credentials refuses every request
    // with "connection closed": say why it was closed.
    if (nc.isClosed()) {
      const why = (await nc.closed()) || undefined;
      const refused = why && isForbidden(why) ? why : authRefusal(nc);
      if (refused) throw translate(refused, o, overall);
    }
    throw translate(e, o, overall);
  } finally {
    stopWatching();
  }
  const instance = msg.headers?.get(HEADER_INSTANCE) ?? '';
  const code = msg.headers?.get(HEADER_ERROR);
  if (code) {
    const known = (CallErrorCodes as readonly string[]).includes(code) ? (code as CallErrorCode) : 'PROVIDER_ERROR';
    const pc = msg.headers?.get(HEADER_PROVIDER_CODE);
    throw new CallError(
      known,
      `${describe(o)}${instance ? ` (instance ${instance})` : ''}: ${code}: ${msg.headers?.get(HEADER_ERROR_MESSAGE) || 'no message'}`,
      instance || undefined,
      pc ? Number(pc) : undefined,
    );
  }
  return { instance, reply: msg.data };
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
    return new CallError(
      'FORBIDDEN',
      `the membrane refused this call to ${describe(o)}: ${err.message}; it needs a CapabilityGrant for this operation that has not expired or been revoked (gantry grant creds)`,
    );
  }
  if (/max_payload|MAX_PAYLOAD/i.test(err.message)) {
    return new CallError('PAYLOAD_TOO_LARGE', `${describe(o)}: ${err.message}`);
  }
  return new CallError('CONNECTION', `calling ${describe(o)} failed: ${err.message}`);
}
