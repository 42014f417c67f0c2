/**
 * The host's dispatcher: provider → actor calls (gantry_dispatch_fn) become NATS requests on
 * the actor's subject, gantry.<ns>.actor.<actor>.<provider>, with the operation in Gantry-Op
 * and the sending provider and instance in headers. Under the membrane the host may publish
 * only to gantry.<ns>.actor.*.<its provider>, and only an actor whose grant allows this
 * provider may subscribe there: a provider reaches only actors that granted it.
 *
 * The native caller cannot wait for NATS (it may be a provider thread blocked until our event
 * loop runs this handler), so delivery is asynchronous: the handler accepts the message and
 * returns at once. What the provider hears back, at once:
 *   GANTRY_ERR_OVERLOADED  maxPending deliveries are already outstanding (a slow actor);
 *   GANTRY_ERR_NO_ACTOR    the last delivery to this actor found no responders, less than
 *                          unreachableMs ago (so a provider stops feeding an actor that is gone,
 *                          and learns it; the mark lapses, or any successful delivery clears it);
 *   GANTRY_ERR_NOT_READY   after close() (the host is stopping).
 * A delivery that times out or fails otherwise is counted and logged, not reported.
 */
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { isNoResponders } from '../../client/call.js';
import { HEADER_INSTANCE, HEADER_OP, HEADER_PROVIDER, actorSubject } from '../../client/protocol.js';
import type { Logger } from '../../runtime/log.js';
import { GantryStatus } from './native.js';

export interface DispatchOptions {
  /** Deliveries outstanding at once before GANTRY_ERR_OVERLOADED (default 1024). */
  maxPending?: number;
  /** How long a delivery waits for the actor's reply (default 5000 ms). */
  timeoutMs?: number;
  /** How long an actor that had no responders is refused with GANTRY_ERR_NO_ACTOR (default 1000 ms). */
  unreachableMs?: number;
}

/** Actors remembered as unreachable at once; the oldest mark is forgotten beyond this. */
const MAX_UNREACHABLE = 4096;

export class ActorDispatcher {
  private pending = 0;
  private closed = false;
  /** actor → until when it is refused (ms since epoch). Insertion order = age. */
  private readonly unreachable = new Map<string, number>();
  delivered = 0;
  undeliverable = 0;
  refused = 0;

  constructor(
    private nc: NatsConnection,
    private readonly who: { namespace: string; provider: string; instance: string },
    private readonly log: Logger,
    private readonly opts: DispatchOptions = {},
  ) {}

  /** Dispatch over another connection from now on (the host renewed its credentials). */
  useConnection(nc: NatsConnection): void {
    this.nc = nc;
  }

  /** The handler given to NativeProvider.configureDispatch. */
  readonly dispatch = (actor: string, op: string, msg: Uint8Array): number => {
    if (this.closed) return GantryStatus.NOT_READY;
    if (!actor || !op) return GantryStatus.BAD_REQUEST;
    if (this.unreachable.size) {
      const until = this.unreachable.get(actor);
      if (until !== undefined) {
        if (until > Date.now()) {
          this.refused++;
          return GantryStatus.NO_ACTOR;
        }
        this.unreachable.delete(actor);
      }
    }
    if (this.pending >= (this.opts.maxPending ?? 1024)) {
      this.refused++;
      return GantryStatus.OVERLOADED;
    }
    const h = natsHeaders();
    h.set(HEADER_OP, op);
    h.set(HEADER_PROVIDER, this.who.provider);
    h.set(HEADER_INSTANCE, this.who.instance);
    this.pending++;
    this.nc
      .request(actorSubject(this.who.namespace, actor, this.who.provider), msg, { headers: h, timeout: this.opts.timeoutMs ?? 5000 })
      .then(() => {
        this.delivered++;
        this.unreachable.delete(actor);
      })
      .catch((e: Error) => {
        this.undeliverable++;
        if (isNoResponders(e)) this.markUnreachable(actor);
        this.log.warn({ actor, op, err: e.message }, 'dispatch to actor failed');
      })
      .finally(() => {
        this.pending--;
      });
    return GantryStatus.OK;
  };

  private markUnreachable(actor: string): void {
    this.unreachable.delete(actor);
    this.unreachable.set(actor, Date.now() + (this.opts.unreachableMs ?? 1000));
    if (this.unreachable.size > MAX_UNREACHABLE) this.unreachable.delete(this.unreachable.keys().next().value!);
  }

  /** Refuse new dispatches (the provider is being stopped). */
  close(): void {
    this.closed = true;
  }
}
