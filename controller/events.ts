/**
 * Kubernetes Events about Providers (`kubectl describe provider x` shows them). Repeats of the
 * same reason+message for the same object within a window are dropped here, so a reconcile
 * loop that keeps finding the same problem does not flood the API.
 */
import { randomBytes } from 'node:crypto';
import type { KubeClient } from '../runtime/kube.js';
import type { Logger } from '../runtime/log.js';
import { kubeTime } from '../runtime/toolkit/time.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string };
}

export class EventRecorder {
  private readonly recent = new Map<string, number>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly opts: { component?: string; dedupWindowMs?: number; host?: string } = {},
  ) {}

  record(obj: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const ns = obj.metadata.namespace ?? 'default';
    const key = `${ns}/${obj.metadata.name}/${obj.metadata.uid}/${reason}/${message}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < (this.opts.dedupWindowMs ?? 600_000)) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000)
      for (const [k, t] of this.recent) if (now - t > (this.opts.dedupWindowMs ?? 600_000)) this.recent.delete(k);
    const ts = kubeTime(now);
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace: ns },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: ns, uid: obj.metadata.uid },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.opts.component ?? 'gantry-controller', host: this.opts.host },
      reportingComponent: this.opts.component ?? 'gantry-controller',
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    this.client.create(`/api/v1/namespaces/${encodeURIComponent(ns)}/events`, event).catch((err) => {
      this.log.debug({ err: (err as Error).message, reason }, 'event not recorded');
    });
  }

  /** Forget dedup state for an object (e.g. its problem was fixed, so a recurrence is news). */
  clear(obj: EventTarget, reason: string): void {
    const prefix = `${obj.metadata.namespace ?? 'default'}/${obj.metadata.name}/${obj.metadata.uid}/${reason}/`;
    for (const k of this.recent.keys()) if (k.startsWith(prefix)) this.recent.delete(k);
  }
}
