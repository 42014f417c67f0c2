/**
 * Serving one provider instance over NATS: the host's hot path.
 *
 * Subscribes to the instance's three subject bases (client/protocol.ts), each as `<base>.*.*`,
 * and turns each request into one native handle_call, run off the event loop by the call pool
 * (call-pool.ts). The operation and the actor come from the subject's last two tokens: under
 * the membrane nats-server lets a caller publish only with its own user key there, so the
 * actor is the verified caller; a Gantry-Actor header is ignored. Guards, in the order a
 * request meets them: the instance is not stopping (NOT_READY), the subject ends in
 * <op>.<caller> (BAD_REQUEST), the payload is under the cap (PAYLOAD_TOO_LARGE), fewer than
 * maxInFlight calls are running (OVERLOADED). Each call has a
 * deadline (the host's per-call timeout, shortened by the caller's Gantry-Timeout-Ms); a call
 * past it is answered TIMEOUT at once, but native code cannot be cancelled, so it is counted
 * as hung until it returns. When maxHungCalls are hung at once the instance reports itself
 * hung, and the host process exits so the supervisor restarts it.
 *
 * Every reply — success or error — carries Gantry-Instance. Deadlines are checked by one
 * sweeper timer rather than a timer per call: the hot path stays allocation-light.
 */
import { headers as natsHeaders, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import {
  HEADER_ERROR,
  HEADER_ERROR_MESSAGE,
  HEADER_INSTANCE,
  HEADER_PROVIDER,
  HEADER_PROVIDER_CODE,
  HEADER_TIMEOUT,
  capabilitySubject,
  instanceSubject,
  parseCallSubject,
  providerSubject,
  DEFAULT_LINK,
  type CallErrorCode,
} from '../../client/protocol.js';
import type { Logger } from '../../runtime/log.js';
import { GantryStatus, type NativeProvider } from './native.js';
import type { TimedCallDone } from './call-pool.js';
import { endHostCall, recordProviderCall, startHostCall, type HostCallTrace } from './call-trace.js';
import { tracingEnabled } from '../../runtime/tracing/index.js';

/** Runs handle_call off the event loop (CallPool); traceparent/tracestate '' when untraced. */
export interface CallExecutor {
  call(actor: string, op: string, msg: Uint8Array, done: TimedCallDone, traceparent?: string, tracestate?: string): void;
}
import type { CallCode, CallStats } from './call-stats.js';
import { replyBelongsToCaller } from './reply-guard.js';
import type { HostLimits, HostSpec } from './spec.js';

interface PendingCall {
  msg: Msg;
  actor: string;
  op: string;
  /** performance.now() when it began: its deadline and latency both count from here. */
  start: number;
  deadline: number;
  timeoutMs: number;
  /** A reply (TIMEOUT) was already sent. */
  answered: boolean;
  /** Its host span, when tracing is on (call-trace.ts). */
  trace: HostCallTrace | undefined;
}

export interface InstanceStats {
  served: number;
  failed: number;
  inFlight: number;
  hung: number;
  /** Requests dropped because their reply subject was not below their caller's inbox. */
  reflected: number;
}

export class InstanceServer {
  private subs: Subscription[] = [];
  private readonly pending = new Set<PendingCall>();
  private hung = 0;
  private stopping = false;
  private sweeper?: NodeJS.Timeout;
  private readonly okHeaders: MsgHdrs;
  private readonly maxReply: number;
  /**
   * Under the membrane (a creds file: operator mode) a caller may read only `_INBOX.<its key>.>`,
   * so a genuine request's reply subject is below its caller's inbox; any other reply subject
   * would make this host answer into someone else's inbox (a reflected reply), and is dropped.
   */
  private readonly repliesOnlyToCaller: boolean;
  private idleWaiters: Array<() => void> = [];
  readonly stats: InstanceStats = { served: 0, failed: 0, inFlight: 0, hung: 0, reflected: 0 };

  constructor(
    private readonly nc: NatsConnection,
    private readonly provider: NativeProvider,
    private readonly spec: HostSpec,
    private readonly limits: Required<HostLimits>,
    private readonly log: Logger,
    /** Called once when too many calls hang at once. */
    private readonly onHung: (hung: number) => void,
    /** Runs handle_call off the event loop (the host's CallPool). */
    private readonly executor: CallExecutor,
    /** What the calls answered here add up to (one per host: a renewal's server counts on). */
    readonly calls: CallStats,
  ) {
    // Success replies all carry the same headers: build them once.
    this.okHeaders = natsHeaders();
    this.okHeaders.set(HEADER_INSTANCE, spec.instance);
    this.maxReply = nc.info?.max_payload ?? 1024 * 1024;
    this.repliesOnlyToCaller = !!spec.nats.credsFile;
  }

  /** The subject bases this instance answers on (it subscribes to `<base>.*.*`), with their queue groups. */
  subjects(): Array<{ subject: string; queue?: string }> {
    const { namespace, provider, instance, linkName } = this.spec;
    const capid = this.spec.expectedCapid ?? this.provider.capabilityId;
    const bySubject = providerSubject(namespace, provider);
    const byCap = capabilitySubject(namespace, capid, linkName ?? DEFAULT_LINK);
    const byInstance = instanceSubject(namespace, provider, instance);
    // the instance subject in a queue group of its own too: while a renewal overlaps two
    // connections (main.ts renew), a call to this instance runs once, not on both
    return [
      { subject: bySubject, queue: bySubject },
      { subject: byInstance, queue: byInstance },
      { subject: byCap, queue: byCap },
    ];
  }

  /** Subscribe (unless `paused`: the provider is unhealthy, see resume()), then start the deadline sweeper. */
  async start(paused = false): Promise<void> {
    if (!paused) await this.subscribe();
    const every = Math.max(5, Math.min(250, Math.floor(this.limits.callTimeoutMs / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /**
   * Leave the queue groups (the provider is unhealthy): no new call is routed here, while the
   * ones already routed are still served (drained, as on stop). resume() joins them again.
   */
  async pause(): Promise<void> {
    const subs = this.subs;
    this.subs = [];
    await Promise.allSettled(subs.map((s) => s.drain()));
  }

  /** Join the queue groups again (no-op while subscribed or stopping). */
  async resume(): Promise<void> {
    if (this.subs.length > 0 || this.stopping) return;
    await this.subscribe();
  }

  get subscribed(): boolean {
    return this.subs.length > 0;
  }

  private async subscribe(): Promise<void> {
    for (const { subject, queue } of this.subjects()) {
      this.subs.push(
        this.nc.subscribe(`${subject}.*.*`, {
          queue,
          callback: (err, msg) => {
            if (!err) this.onRequest(msg, subject);
          },
        }),
      );
    }
    // Round-trip to the server so the subscriptions exist before we report Ready.
    await this.nc.flush();
  }

  /**
   * Stop taking calls, then wait (up to graceMs) for running ones to finish; calls still
   * running then are answered NOT_READY (they may yet complete in native code). Subscriptions
   * are drained, not just unsubscribed: requests the server routed to us before it saw the
   * UNSUB are still served (a plain unsubscribe drops them, and their callers time out).
   */
  async drain(graceMs: number): Promise<void> {
    const until = Date.now() + graceMs;
    const subs = this.subs;
    this.subs = [];
    await within(Promise.allSettled(subs.map((s) => s.drain())), graceMs);
    this.stopping = true;
    const left = until - Date.now();
    if (this.pending.size > 0 && left > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    if (this.sweeper) clearInterval(this.sweeper);
    for (const call of this.pending) {
      call.answered = true;
      this.hung++;
      this.calls.end(call.op, 'NOT_READY', call.start);
      this.fail(call.msg, 'NOT_READY', `instance ${this.spec.instance} stopped before the call finished (it may still complete)`);
      if (call.trace) endHostCall(call.trace, 'NOT_READY');
    }
    this.pending.clear();
    this.stats.inFlight = 0;
    this.stats.hung = this.hung;
  }

  private onRequest(msg: Msg, base: string): void {
    if (!msg.reply) return; // a publish without a reply subject cannot be answered
    const call0 = parseCallSubject(msg.subject, base);
    if (this.stopping) return this.refuse(msg, call0?.op, 'NOT_READY', `instance ${this.spec.instance} is stopping`);
    const h = msg.headers;
    if (!call0)
      return this.refuse(msg, undefined, 'BAD_REQUEST', `subject ${msg.subject} does not end in <operation>.<caller> (protocol v2)`);
    if (this.repliesOnlyToCaller && !replyBelongsToCaller(msg.reply, call0.caller)) {
      // not answered at all: any answer would land in the inbox the request named. Logged at the
      // 1st, 2nd, 4th, 8th… such request, so a caller repeating it cannot flood the host's log.
      const n = ++this.stats.reflected;
      if ((n & (n - 1)) === 0)
        this.log.warn(
          { caller: call0.caller, subject: msg.subject, reflected: n },
          "dropped a request whose reply is not below its caller's inbox",
        );
      return;
    }
    const data = msg.data;
    if (data.length > this.limits.maxPayloadBytes) {
      return this.refuse(
        msg,
        call0.op,
        'PAYLOAD_TOO_LARGE',
        `payload of ${data.length} bytes exceeds this instance's limit of ${this.limits.maxPayloadBytes}`,
      );
    }
    if (this.pending.size >= this.limits.maxInFlight) {
      return this.refuse(
        msg,
        call0.op,
        'OVERLOADED',
        `instance ${this.spec.instance} has ${this.pending.size} calls in flight (limit ${this.limits.maxInFlight})`,
      );
    }
    let timeout = this.limits.callTimeoutMs;
    const callerTimeout = Number(h?.get(HEADER_TIMEOUT));
    if (callerTimeout > 0 && callerTimeout < timeout) timeout = callerTimeout;
    const start = performance.now();
    const call: PendingCall = {
      msg,
      actor: call0.caller,
      op: call0.op,
      start,
      deadline: start + timeout,
      timeoutMs: timeout,
      answered: false,
      trace: tracingEnabled() ? startHostCall(msg, this.spec, call0.op) : undefined,
    };
    this.pending.add(call);
    this.stats.inFlight = this.pending.size;
    this.calls.begin(start);
    try {
      this.executor.call(
        call.actor,
        call.op,
        call.msg.data,
        (status, body, startedAt, endedAt) => this.complete(call, status, body, startedAt, endedAt),
        call.trace?.traceparent ?? '',
        call.trace?.tracestate ?? '',
      );
    } catch (e) {
      this.pending.delete(call);
      this.stats.inFlight = this.pending.size;
      this.calls.end(call.op, 'NOT_READY', call.start);
      this.fail(call.msg, 'NOT_READY', `cannot run the call: ${(e as Error).message}`);
      if (call.trace) endHostCall(call.trace, 'NOT_READY');
    }
  }

  private complete(call: PendingCall, status: number, body: Uint8Array, startedAt: number, endedAt: number): void {
    if (call.trace) recordProviderCall(call.trace, startedAt, endedAt, status);
    if (call.answered) {
      // It had timed out; the native call has finally returned.
      this.hung--;
      this.stats.hung = this.hung;
      return;
    }
    this.pending.delete(call);
    this.stats.inFlight = this.pending.size;
    if (status === GantryStatus.OK) {
      if (body.length > this.maxReply) {
        this.calls.end(call.op, 'PROVIDER_ERROR', call.start);
        this.fail(call.msg, 'PROVIDER_ERROR', `reply of ${body.length} bytes exceeds the NATS max_payload of ${this.maxReply}`);
        if (call.trace) endHostCall(call.trace, 'PROVIDER_ERROR');
      } else {
        this.stats.served++;
        this.calls.end(call.op, 'OK', call.start);
        call.msg.respond(body, { headers: this.okHeaders });
        if (call.trace) endHostCall(call.trace);
      }
    } else {
      const code: CallCode & CallErrorCode =
        status === GantryStatus.UNAUTHORIZED ? 'UNAUTHORIZED' : status === GantryStatus.OVERLOADED ? 'OVERLOADED' : 'PROVIDER_ERROR';
      this.calls.end(call.op, code, call.start);
      this.fail(call.msg, code, Buffer.from(body).toString('utf8') || `provider returned code ${status}`, status);
      if (call.trace) endHostCall(call.trace, code, status);
    }
    if (this.pending.size === 0 && this.idleWaiters.length) this.wakeIdle();
  }

  private sweep(): void {
    const now = performance.now();
    for (const call of this.pending) {
      if (call.deadline > now) continue;
      call.answered = true;
      this.pending.delete(call);
      this.hung++;
      this.calls.end(call.op, 'TIMEOUT', call.start);
      this.fail(
        call.msg,
        'TIMEOUT',
        `the provider did not answer within ${call.timeoutMs} ms; the call may still complete on instance ${this.spec.instance}`,
      );
      if (call.trace) endHostCall(call.trace, 'TIMEOUT');
    }
    this.stats.inFlight = this.pending.size;
    this.stats.hung = this.hung;
    if (this.hung >= this.limits.maxHungCalls) {
      this.log.error({ hung: this.hung }, 'provider calls keep hanging; giving up on this host');
      this.onHung(this.hung);
    }
    if (this.pending.size === 0 && this.idleWaiters.length) this.wakeIdle();
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Answer a call refused before it ran (counted, not timed; traced with its code). */
  private refuse(msg: Msg, op: string | undefined, code: CallCode & CallErrorCode, message: string): void {
    const trace = tracingEnabled() ? startHostCall(msg, this.spec, op) : undefined;
    this.calls.refuse(op, code);
    this.fail(msg, code, message);
    if (trace) endHostCall(trace, code);
  }

  private fail(msg: Msg, code: CallErrorCode, message: string, providerCode?: number): void {
    this.stats.failed++;
    const h = natsHeaders();
    h.set(HEADER_INSTANCE, this.spec.instance);
    h.set(HEADER_PROVIDER, this.spec.provider);
    h.set(HEADER_ERROR, code);
    // Header values are one line.
    h.set(HEADER_ERROR_MESSAGE, message.replace(/[\r\n]+/g, ' ').slice(0, 1024));
    if (providerCode !== undefined) h.set(HEADER_PROVIDER_CODE, String(providerCode));
    try {
      msg.respond(undefined, { headers: h });
    } catch (e) {
      this.log.warn({ err: (e as Error).message, code }, 'could not send error reply');
    }
  }
}

/** Wait for p, but no longer than ms. */
function within(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    void p.finally(() => {
      clearTimeout(t);
      resolve();
    });
  });
}
