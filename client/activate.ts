/**
 * The caller's side of activation (client/activation.ts, docs/protocol.md "Activation"): a call
 * to a Provider or a capability that found no responder asks the controller, once, to wake its
 * target, and waits for the answer within what is left of the call's own deadline. Every way
 * it can fail is a CallError the caller already knows, with the activation's own answer in
 * `activation`:
 *   the membrane refused the publish (no grant for this target) → FORBIDDEN
 *   nobody subscribed to the activation subject (no controller) → NO_RESPONDERS, activation NO_ACTIVATOR
 *   NOT_FOUND / NOT_ACTIVATABLE / BAD_REQUEST / ACTIVATION_FAILED → NO_RESPONDERS with the reason
 *   TIMEOUT (the controller's, or our own deadline)           → TIMEOUT
 *   the connection's server lost while asking                 → CONNECTION_LOST (retryable, as for calls)
 * NO_RESPONDERS is kept for the refusals because that is what the call itself found: nothing
 * serves it, and nothing will (`gantry call` keeps its exit status; `activation` says why).
 */
import { errors as natsErrors, headers as natsHeaders, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { ACTIVATION_READY, capabilityActivationSubject, HEADER_ACTIVATION, providerActivationSubject } from './activation.js';
import { CallError, isForbidden, isNoResponders } from './call-error.js';
import { onConnectionLost, whenConnected } from './nats.js';
import { HEADER_ERROR, HEADER_ERROR_MESSAGE, HEADER_INSTANCE, HEADER_TIMEOUT } from './protocol.js';
import { injectCallTrace } from './trace.js';

/** What can be activated: a Provider by name, or a capability id (+ link), never one instance. */
export interface ActivationTarget {
  namespace: string;
  provider?: string;
  capid?: string;
  link?: string;
}

/** The activation subject of a call's target, with the caller's own key as its last token. */
export function activationSubject(t: ActivationTarget, caller: string): string {
  return t.provider
    ? providerActivationSubject(t.namespace, t.provider, caller)
    : capabilityActivationSubject(t.namespace, t.capid!, t.link || undefined, caller);
}

function what(t: ActivationTarget): string {
  return t.provider ? `provider ${t.namespace}/${t.provider}` : `capability ${t.capid} (link ${t.link || 'default'}) in ${t.namespace}`;
}

function failed(code: CallError['code'], activation: string, message: string): CallError {
  const e = new CallError(code, message);
  e.activation = activation;
  return e;
}

/**
 * Asks the controller to activate `t` and waits up to `timeoutMs` for it to say an instance is
 * Ready; returns that instance's name (may be empty if the controller did not name one).
 */
export async function requestActivation(nc: NatsConnection, t: ActivationTarget, caller: string, timeoutMs: number): Promise<string> {
  const subject = activationSubject(t, caller);
  // as a call does (call.ts): never send into a reconnecting client's buffer, and fail a request
  // whose server is lost at once, retryable, rather than at the deadline
  const started = Date.now();
  if (!(await whenConnected(nc, timeoutMs)))
    throw failed(
      'CONNECTION_LOST',
      'CONNECTION_LOST',
      `no NATS server took the connection back within ${timeoutMs} ms while asking to activate ${what(t)}`,
    );
  timeoutMs = Math.max(1, timeoutMs - (Date.now() - started));
  const h = natsHeaders();
  h.set(HEADER_TIMEOUT, String(timeoutMs));
  injectCallTrace(h); // the wake-up is part of the call's trace (the controller's gantry.activate span)
  let msg: Msg;
  let stopWatching = () => {};
  try {
    const lost = new Promise<never>((_, reject) => {
      stopWatching = onConnectionLost(nc, (server) =>
        reject(
          failed(
            'CONNECTION_LOST',
            'CONNECTION_LOST',
            `the connection to NATS server ${server} was lost while asking to activate ${what(t)} (the client reconnects to another server)`,
          ),
        ),
      );
    });
    const req = nc.request(subject, new Uint8Array(0), { headers: h, timeout: timeoutMs });
    req.catch(() => {}); // when the loss wins, the request's own rejection is nobody's
    msg = await Promise.race([req, lost]);
  } catch (e) {
    throw e instanceof CallError ? e : activationFailure(e, t, timeoutMs);
  } finally {
    stopWatching();
  }
  if (msg.headers?.get(HEADER_ACTIVATION) === ACTIVATION_READY) return msg.headers.get(HEADER_INSTANCE) ?? '';
  const code = msg.headers?.get(HEADER_ERROR) || 'ACTIVATION_FAILED';
  const why = msg.headers?.get(HEADER_ERROR_MESSAGE) || 'no message';
  if (code === 'TIMEOUT') throw failed('TIMEOUT', code, `${what(t)} was not activated in time: ${why}`);
  throw failed('NO_RESPONDERS', code, `no Ready instance answers for ${what(t)}, and activating it failed: ${code}: ${why}`);
}

function activationFailure(e: unknown, t: ActivationTarget, timeoutMs: number): CallError {
  if (isNoResponders(e))
    return failed(
      'NO_RESPONDERS',
      'NO_ACTIVATOR',
      `no Ready instance answers for ${what(t)}, and no activator answered the activation request (no Gantry controller serving activation on this bus)`,
    );
  if (isForbidden(e))
    return failed(
      'FORBIDDEN',
      'FORBIDDEN',
      `the membrane refused the activation request: no grant to activate ${what(t)} (${(e as Error).message}); it needs a CapabilityGrant for this target (gantry grant creds)`,
    );
  const err = e as Error & { cause?: Error };
  if (err instanceof natsErrors.TimeoutError || err.cause instanceof natsErrors.TimeoutError)
    return failed('TIMEOUT', 'TIMEOUT', `${what(t)} was not activated within ${timeoutMs} ms (the call's deadline)`);
  return failed('CONNECTION', 'CONNECTION', `asking to activate ${what(t)} failed: ${err.message}`);
}
