/**
 * Waiting for a Provider's first Ready instance on the instance informer's events (never by
 * polling the API): every request waiting on the same Provider shares one wait.
 */
import type { ProviderInstance } from '../../api/index.js';
import type { InformerHandlers } from '../../runtime/informer.js';

/** What the wait reads: the controller's instance informer (controller/informers.ts instanceInformer). */
export interface InstanceSource {
  list(namespace?: string): ProviderInstance[];
  addHandler(h: InformerHandlers<ProviderInstance>): void;
}

/** Ready as the Provider reconcile counts it (controller/providers/heal.ts): Running and not Ready=False, not going away. */
export function isReadyInstance(i: ProviderInstance): boolean {
  return (
    i.status?.phase === 'Running' &&
    !i.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'False') &&
    !(i.metadata as { deletionTimestamp?: string }).deletionTimestamp
  );
}

interface Wait {
  ready: Promise<string>;
  resolve(instance: string): void;
  waiters: number;
}

const keyOf = (namespace: string, provider: string) => `${namespace}/${provider}`;

export class ReadyWatch {
  private readonly waits = new Map<string, Wait>();

  constructor(private readonly instances: InstanceSource) {
    const seen = (i: ProviderInstance) => this.seen(i);
    instances.addHandler({ add: seen, update: seen });
  }

  private seen(i: ProviderInstance): void {
    if (this.waits.size === 0 || !isReadyInstance(i)) return;
    const k = keyOf(i.metadata.namespace ?? '', i.spec.provider);
    const w = this.waits.get(k);
    if (!w) return;
    this.waits.delete(k);
    w.resolve(i.metadata.name);
  }

  /** A Ready instance of the Provider in the cache now, if any. */
  current(namespace: string, provider: string): string | undefined {
    return this.instances.list(namespace).find((i) => i.spec.provider === provider && isReadyInstance(i))?.metadata.name;
  }

  /** The name of a Ready instance of the Provider as soon as there is one, or undefined after `ms`. */
  wait(namespace: string, provider: string, ms: number): Promise<string | undefined> {
    const now = this.current(namespace, provider);
    if (now) return Promise.resolve(now);
    const k = keyOf(namespace, provider);
    let w = this.waits.get(k);
    if (!w) {
      let resolve!: (s: string) => void;
      const ready = new Promise<string>((r) => (resolve = r));
      w = { ready, resolve, waiters: 0 };
      this.waits.set(k, w);
    }
    const wait = w;
    wait.waiters++;
    return new Promise((res) => {
      const timer = setTimeout(() => {
        // the last one to give up takes the shared wait away: nobody is left to answer
        if (--wait.waiters === 0 && this.waits.get(k) === wait) this.waits.delete(k);
        res(undefined);
      }, ms);
      timer.unref(); // a wait keeps no stopping controller alive
      void wait.ready.then((name) => {
        clearTimeout(timer);
        res(name);
      });
    });
  }

  /** How many Providers are waited on (for tests: nothing is left behind). */
  get pending(): number {
    return this.waits.size;
  }
}
