/**
 * The trust policy in force, kept current from one named ConfigMap (`--trust-configmap
 * NAMESPACE/NAME`, deploy/base: gantry-system/gantry-trust) by list + watch with a
 * `metadata.name` field selector, so RBAC can grant `get,list,watch` on that name alone.
 *
 * Fail closed, and only a valid policy changes what is trusted:
 *   - until the first list, and while the ConfigMap does not exist (never created, or deleted),
 *     nothing is trusted: an absent policy is an empty one, as an empty `trusted-issuers` is;
 *   - a malformed update (api/trust-policy.ts) is refused as a whole and the last valid policy
 *     stays in force; with no valid one yet, nothing is trusted. Keeping the last one cannot
 *     widen trust: it is exactly what an operator set before, and the refused text grants nothing;
 *   - every valid change calls `onChange` with the new issuers; every refusal calls `onError`.
 *
 *   const trust = new TrustWatch({ client, namespace: 'gantry-system', name: 'gantry-trust', log });
 *   trust.onChange(() => queue.resyncAll());
 *   await trust.start(); trust.issuers; trust.problem;   // …
 *   await trust.stop();
 */
import { Informer, type KubeObject } from '../runtime/informer.js';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import { parseTrustPolicy, type TrustConfigMap, TrustPolicyError } from './trust-policy.js';

export { parseConfigMapRef } from './trust-policy.js';

/** The trust policy's issuers as the controller and agents read them: live when watched. */
export interface TrustSource {
  readonly issuers: readonly string[];
}

export interface TrustWatchOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  log: Logger;
  /** Informer watch timeout (default 60 s). */
  watchTimeoutSeconds?: number;
}

type ConfigMap = KubeObject & TrustConfigMap;

export class TrustWatch implements TrustSource {
  private current: readonly string[] = [];
  private error?: string;
  private readonly informer: Informer<ConfigMap>;
  private readonly changed: ((issuers: readonly string[]) => void)[] = [];
  private readonly refused: ((message: string, cm?: ConfigMap) => void)[] = [];
  readonly where: string;

  constructor(private readonly o: TrustWatchOptions) {
    this.where = `ConfigMap ${o.namespace}/${o.name}`;
    this.informer = new Informer<ConfigMap>({
      client: o.client,
      path: `/api/v1/namespaces/${encodeURIComponent(o.namespace)}/configmaps`,
      fieldSelector: `metadata.name=${o.name}`,
      watchTimeoutSeconds: o.watchTimeoutSeconds,
      // Stryker disable next-line StringLiteral: the informer's name only labels its log lines
      name: 'trust-policy',
    });
    this.informer.addHandler({ add: (cm) => this.read(cm), update: (cm) => this.read(cm), delete: () => this.gone() });
  }

  /** The issuers in force now (empty: nothing is trusted). */
  get issuers(): readonly string[] {
    return this.current;
  }

  /** Why the last update was refused (or why nothing is trusted), until a valid one arrives. */
  get problem(): string | undefined {
    return this.error;
  }

  onChange(fn: (issuers: readonly string[]) => void): void {
    this.changed.push(fn);
  }

  /** `cm` is the refused object (absent when it was deleted or never existed): an Event can name it. */
  onError(fn: (message: string, cm?: ConfigMap) => void): void {
    this.refused.push(fn);
  }

  /** Resolves after the first list, the policy read (or found missing). */
  async start(): Promise<void> {
    await this.informer.start();
    if (!this.informer.get(this.o.name, this.o.namespace)) this.gone();
  }

  // Stryker disable next-line BlockStatement: releases the watch; a test sees no difference short of waiting for an event that must not come
  async stop(): Promise<void> {
    await this.informer.stop();
  }

  private read(cm: ConfigMap): void {
    try {
      const policy = parseTrustPolicy(cm, this.where);
      this.error = undefined;
      this.set(policy.trustedIssuers, cm.metadata.resourceVersion);
    } catch (err) {
      if (!(err instanceof TrustPolicyError)) throw err;
      this.fail(err.message, cm);
    }
  }

  private gone(): void {
    this.fail(`${this.where} does not exist: nothing is trusted until it is created (an absent trust policy trusts no issuer)`);
    this.set([], undefined);
  }

  private fail(message: string, cm?: ConfigMap): void {
    this.error = message;
    this.o.log.error({ code: 'TRUST_POLICY_INVALID', err: message, issuers: this.current.length }, 'trust policy refused');
    for (const fn of this.refused) fn(message, cm);
  }

  private set(issuers: string[], resourceVersion: string | undefined): void {
    const same = issuers.length === this.current.length && issuers.every((k) => this.current.includes(k));
    if (same) return;
    const was = this.current;
    this.current = Object.freeze([...issuers]);
    this.o.log.info(
      {
        resourceVersion,
        issuers: issuers.length,
        added: issuers.filter((k) => !was.includes(k)),
        removed: was.filter((k) => !issuers.includes(k)),
      },
      'trust policy changed',
    );
    for (const fn of this.changed) fn(this.current);
  }
}
