/**
 * A counting semaphore shared by every reconcile, so the controller's API writes in flight
 * stay under one global bound however many Providers are being reconciled at once.
 */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Runs fn over items, as many at once as the limiter allows. */
  async each<T>(items: T[], fn: (t: T) => Promise<void>): Promise<void> {
    await Promise.all(items.map((t) => this.run(() => fn(t))));
  }
}
