/** One subscriber's queue. */
interface Subscriber<T> {
  queue: T[];
  wake: (() => void) | undefined;
  done: boolean;
}

/**
 * Events fanned out to subscribers, each with a queue of its own, so a slow
 * reader misses nothing and holds up no one. A subscription is registered the
 * moment {@link subscribe} is called (not at its first read), so nothing
 * published after that call is lost.
 */
export class EventFeed<T> {
  private readonly subscribers = new Set<Subscriber<T>>();
  private ended = false;

  /** @param onLeave called each time a subscription ends (its reader stopped, or its signal aborted) */
  constructor(private readonly onLeave: () => void = () => {}) {}

  /** Subscriptions that have not ended. */
  get size(): number {
    return this.subscribers.size;
  }

  /** Queues the event for every subscriber. */
  publish(event: T): void {
    for (const subscriber of this.subscribers) {
      subscriber.queue.push(event);
      subscriber.wake?.();
    }
  }

  /** Ends every subscription once its reader has taken what is queued; later subscriptions end at once. */
  end(): void {
    this.ended = true;
    for (const subscriber of this.subscribers) {
      subscriber.done = true;
      subscriber.wake?.();
    }
    this.subscribers.clear();
  }

  /**
   * The events from now on, after `initial` (the state there is, for a new
   * subscriber). Ends when the feed ends or `signal` aborts (what is still
   * queued is then dropped).
   */
  subscribe(signal: AbortSignal, initial: readonly T[] = []): AsyncIterable<T> {
    const subscriber: Subscriber<T> = { queue: [...initial], wake: undefined, done: this.ended };
    if (!this.ended && !signal.aborted) this.subscribers.add(subscriber);
    const stop = () => {
      subscriber.done = true;
      subscriber.queue.length = 0;
      if (this.subscribers.delete(subscriber)) this.onLeave();
      subscriber.wake?.();
    };
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
    const feed = this;
    return (async function* () {
      try {
        for (;;) {
          const next = subscriber.queue.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          if (subscriber.done) return;
          await new Promise<void>((resolve) => {
            subscriber.wake = resolve;
          });
          subscriber.wake = undefined;
        }
      } finally {
        signal.removeEventListener("abort", stop);
        if (feed.subscribers.delete(subscriber)) feed.onLeave();
      }
    })();
  }
}
