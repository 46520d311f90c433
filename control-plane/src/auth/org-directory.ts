import type { Resource } from "../kinds/kind.js";
import type { ResourceStore } from "../store/resource-store.js";

/**
 * OrgDirectory knows the uid of every organization that exists now, fed by a
 * watch of the organizations store, so the auth gate can tell in memory
 * whether a member token's org is still the org it was issued for.
 */
export class OrgDirectory {
  private readonly uids = new Map<string, string>();
  private readonly waiters = new Set<() => void>();
  private readonly abort = new AbortController();
  private watching: Promise<void> | undefined;

  constructor(
    private readonly store: ResourceStore<Resource>,
    private readonly log: (message: string, error: unknown) => void,
  ) {}

  /** Loads every org, then follows changes until {@link close}. */
  async start(): Promise<void> {
    let synced!: () => void;
    let failed!: (err: unknown) => void;
    const ready = new Promise<void>((resolve, reject) => {
      synced = resolve;
      failed = reject;
    });
    this.watching = (async () => {
      try {
        for await (const event of this.store.watch("*", { signal: this.abort.signal })) {
          if (event.type === "synced") synced();
          else if (event.type === "deleted") this.uids.delete(event.key);
          else this.uids.set(event.key, event.object.meta?.uid ?? "");
          for (const wake of this.waiters) wake();
        }
      } catch (err) {
        failed(err);
        if (!this.abort.signal.aborted) this.log("the organization watch ended", err);
      }
    })();
    await ready;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.watching;
  }

  /** The uid of the org named so, or undefined when there is none. */
  uidOf(name: string): string | undefined {
    return this.uids.get(name);
  }

  /**
   * Waits (at most `limitMs`) until the watch has seen the org with this uid,
   * so a token issued for an org created a moment ago works at once.
   */
  async waitFor(name: string, uid: string, limitMs = 10_000): Promise<void> {
    if (this.uids.get(name) === uid) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (this.uids.get(name) === uid) done();
      };
      const timer = setTimeout(done, limitMs);
      this.waiters.add(check);
    });
  }
}
