/**
 * The controller's activation responder (client/activation.ts, docs/protocol.md "Activation"):
 * answers requests to wake a Provider scaled to zero. It subscribes to every namespace's
 * activation subjects in the controller's queue group (membrane/permissions.ts
 * controllerBusPermissions) only while its replica leads — `start` when leading, `stop` when
 * not — resolves the target (a capability to the Providers of that namespace serving it),
 * asks the Activator (the autoscaler) to scale 0→1, and answers once an instance is Ready on
 * the instance informer, or TIMEOUT when the caller's Gantry-Timeout-Ms (capped) runs out.
 *
 * Who may wake what is decided before a request gets here: nats-server delivers only what a
 * grantee may publish, with its own key as the caller token (membrane/permissions.ts).
 * Requests for the same Provider at once share one activation and one wait.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { Attrs, extractTrace, Spans, tracer } from '../../runtime/tracing/index.js';
import { ACTIVATION_READY, ALL_ACTIVATION_SUBJECTS, HEADER_ACTIVATION } from '../../client/activation.js';
import { HEADER_ERROR, HEADER_ERROR_MESSAGE, HEADER_INSTANCE, HEADER_PROVIDER, HEADER_TIMEOUT } from '../../client/protocol.js';
import { CONTROLLER_ACTIVATION_QUEUE } from '../../membrane/permissions.js';
import { logger, type Logger } from '../../runtime/log.js';
import type { Activator } from '../autoscale/contract.js';
import { Activations, type Answer, type ProviderSource } from './activations.js';
import { type InstanceSource, ReadyWatch } from './ready.js';
import { parseActivationRequest } from './request.js';

export { providersServing, type ProviderSource } from './activations.js';

export interface ActivationResponderOptions {
  /** The controller's own bus connection (a user with controllerBusPermissions). */
  nc: NatsConnection;
  activator: Activator;
  providers: ProviderSource;
  instances: InstanceSource;
  /** The longest a request waits for a Ready instance, whatever its Gantry-Timeout-Ms (default 30 s). */
  maxWaitMs?: number;
  log?: Logger;
}

export interface ActivationResponder {
  /** Subscribes (when this replica becomes leader); resolves once the server has the subscription. */
  start(): Promise<void>;
  /** Unsubscribes (on losing the lead, or stopping); requests already taken are still answered. */
  stop(): Promise<void>;
  readonly serving: boolean;
}

export function createActivationResponder(o: ActivationResponderOptions): ActivationResponder {
  const maxWaitMs = o.maxWaitMs ?? 30_000;
  const log = o.log ?? logger('activation');
  const activations = new Activations(o.activator, o.providers, new ReadyWatch(o.instances), maxWaitMs, log);
  let sub: Subscription | undefined;

  async function handle(m: Msg): Promise<void> {
    const req = parseActivationRequest(m.subject, m.headers?.get(HEADER_TIMEOUT), maxWaitMs);
    const span = tracer().startSpan(Spans.activate, { kind: SpanKind.SERVER }, extractTrace(m.headers));
    if (!('error' in req))
      span.setAttributes({
        [Attrs.namespace]: req.namespace,
        [Attrs.provider]: req.target.kind === 'provider' ? req.target.provider : req.target.capid,
      });
    let a: Answer;
    try {
      a = 'error' in req ? { code: 'BAD_REQUEST', message: req.error } : await activations.answer(req);
    } catch (e) {
      a = { code: 'ACTIVATION_FAILED', message: (e as Error).message };
    }
    if ('instance' in a) span.setAttribute(Attrs.instance, a.instance);
    else {
      span.setStatus({ code: SpanStatusCode.ERROR, message: a.code });
      span.setAttribute(Attrs.callCode, a.code);
    }
    span.end();
    const h = natsHeaders();
    if ('instance' in a) {
      h.set(HEADER_ACTIVATION, ACTIVATION_READY);
      h.set(HEADER_INSTANCE, a.instance);
      h.set(HEADER_PROVIDER, a.provider);
    } else {
      h.set(HEADER_ERROR, a.code);
      h.set(HEADER_ERROR_MESSAGE, a.message);
      log.info({ subject: m.subject, code: a.code, reason: a.message }, 'activation refused');
    }
    m.respond(new Uint8Array(0), { headers: h });
  }

  return {
    get serving() {
      return sub !== undefined;
    },
    async start() {
      if (sub) return;
      sub = o.nc.subscribe(ALL_ACTIVATION_SUBJECTS, {
        queue: CONTROLLER_ACTIVATION_QUEUE,
        callback: (err, m) => {
          if (err) log.warn({ err: err.message }, 'activation subscription failed');
          else void handle(m);
        },
      });
      await o.nc.flush();
    },
    async stop() {
      const s = sub;
      sub = undefined;
      if (!s) return;
      s.unsubscribe();
      if (!o.nc.isClosed()) await o.nc.flush().catch(() => {});
    },
  };
}

/** Starts answering at once (a controller that always leads, tests). */
export async function serveActivation(o: ActivationResponderOptions): Promise<ActivationResponder> {
  const r = createActivationResponder(o);
  await r.start();
  return r;
}
