/**
 * What the responder answers one activation request: the Providers its target names, one
 * Activator call per Provider for everyone asking at once, and the first Ready instance of
 * any Provider woken — or why not (client/activation.ts ActivationErrorCodes).
 */
import type { ActivationErrorCode } from '../../client/activation.js';
import { DEFAULT_LINK } from '../../client/protocol.js';
import type { Logger } from '../../runtime/log.js';
import type { ActivateOutcome, Activator } from '../autoscale/contract.js';
import type { ReadyWatch } from './ready.js';
import type { ActivationRequest } from './request.js';
import type { Provider } from '../../api/index.js';

/** What the responder reads Providers from: the controller's Provider informer (controller/informers.ts). */
export interface ProviderSource {
  list(namespace?: string): Provider[];
}

export type Answer = { instance: string; provider: string } | { code: ActivationErrorCode | 'ACTIVATION_FAILED'; message: string };

type Refusal = Extract<ActivateOutcome, { ok: false }>;

/** The Providers of a namespace that serve a capability id on a link (resolved from the archive's claims, or as the spec expects it). */
export function providersServing(providers: ProviderSource, namespace: string, capid: string, link: string): string[] {
  return providers
    .list(namespace)
    .filter((p) => (p.status?.resolved?.capid ?? p.spec.capabilityId) === capid && (p.spec.linkName || DEFAULT_LINK) === link)
    .map((p) => p.metadata.name!);
}

export class Activations {
  // one activation per Provider until it has a Ready instance (or maxWaitMs passes)
  private readonly inflight = new Map<string, Promise<ActivateOutcome>>();

  constructor(
    private readonly activator: Activator,
    private readonly providers: ProviderSource,
    private readonly ready: ReadyWatch,
    private readonly maxWaitMs: number,
    private readonly log: Logger,
  ) {}

  private activation(namespace: string, provider: string, caller: string): Promise<ActivateOutcome> {
    const k = `${namespace}/${provider}`;
    const known = this.inflight.get(k);
    if (known) return known;
    this.log.info({ namespace, provider, caller }, 'activating');
    const a = this.activator
      .activate(namespace, provider, caller)
      .catch((e: Error): ActivateOutcome => ({ ok: false, code: 'ACTIVATION_FAILED', message: e.message }));
    this.inflight.set(k, a);
    void a.then(async (out) => {
      if (out.ok) await this.ready.wait(namespace, provider, this.maxWaitMs);
      if (this.inflight.get(k) === a) this.inflight.delete(k);
    });
    return a;
  }

  async answer(req: ActivationRequest): Promise<Answer> {
    const { namespace, target } = req;
    const names = target.kind === 'provider' ? [target.provider] : providersServing(this.providers, namespace, target.capid, target.link);
    if (target.kind === 'cap' && names.length === 0)
      return {
        code: 'NOT_FOUND',
        message: `no Provider in namespace ${namespace} serves capability ${target.capid} on link ${target.link}`,
      };
    const deadline = Date.now() + req.waitMs;
    const outcomes = await within(Promise.all(names.map((p) => this.activation(namespace, p, req.caller))), req.waitMs);
    if (!outcomes)
      return { code: 'TIMEOUT', message: `the activation of ${names.join(', ')} in ${namespace} did not finish within ${req.waitMs} ms` };
    const woken = outcomes.flatMap((out) => (out.ok ? [out.provider] : []));
    if (woken.length === 0) {
      // a capability served by several: the reason that is not "not found" says more
      const refusals = outcomes as Refusal[];
      const refused = refusals.find((out) => out.code !== 'NOT_FOUND') ?? refusals[0];
      return { code: refused.code, message: refused.message };
    }
    const left = Math.max(1, deadline - Date.now());
    const found = await firstReady(
      woken.map((p) => this.ready.wait(namespace, p, left).then((i) => (i === undefined ? undefined : { instance: i, provider: p }))),
    );
    return found ?? { code: 'TIMEOUT', message: `no instance of ${woken.join(', ')} in ${namespace} became Ready within ${req.waitMs} ms` };
  }
}

/** `p`'s value, or undefined if it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The first defined value, or undefined once all are undefined. */
function firstReady<T>(ps: Promise<T | undefined>[]): Promise<T | undefined> {
  return new Promise((resolve) => {
    let left = ps.length;
    for (const p of ps)
      void p.then((v) => {
        if (v !== undefined) resolve(v);
        else if (--left === 0) resolve(undefined);
      });
  });
}
