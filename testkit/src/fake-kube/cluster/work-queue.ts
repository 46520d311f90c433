/**
 * A queue of keys to reconcile, as controllers keep one: a key added while
 * it waits is not added twice, keys run one at a time in the order they came,
 * and a key added while it runs runs again afterwards. Runs start on a later
 * turn of the event loop, never inside the store write that queued them.
 */
export class WorkQueue {
  private readonly waiting = new Set<string>();
  private draining = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(
    private readonly run: (key: string) => void | Promise<void>,
    private readonly onError: (key: string, error: unknown) => void,
  ) {}

  add(key: string): void {
    if (this.closed) return;
    this.waiting.add(key);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.waiting.size > 0 && !this.closed) {
      const key = this.waiting.values().next().value as string;
      this.waiting.delete(key);
      try {
        await this.run(key);
      } catch (error) {
        this.onError(key, error);
      }
    }
    this.draining = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves once nothing waits and nothing runs. */
  idle(): Promise<void> {
    if (!this.draining && this.waiting.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    this.closed = true;
    this.waiting.clear();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
