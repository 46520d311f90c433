/** A place for one instance in its org's quota, held from before it starts until it has exited. */
export interface QuotaSlot {
  /** Gives the place back (idempotent); the org's next waiting start gets it. */
  release(): void;
}

/** Thrown to callers that gave up while their function could not start an instance because of the quota. */
export class InstanceQuotaError extends Error {
  override readonly name = "InstanceQuotaError";
}

interface Waiting {
  grant(slot: QuotaSlot): void;
  /** Instances the waiting start's function has now: the fewest go first. */
  has(): number;
}

/**
 * InstanceQuota bounds the instances running (or starting) at once across the
 * functions of each org. A start takes a slot before the driver is asked, and
 * gives it back when the instance has exited; starts past the quota wait in
 * line until a slot is given back. A freed slot goes to the waiting start whose
 * function has the fewest instances (first come first served among equals), so
 * a function that wants many cannot keep one that has none from starting.
 */
export class InstanceQuota {
  private readonly used = new Map<string, number>();
  private readonly waiting = new Map<string, Waiting[]>();

  /** @param limit instances per org (Infinity: no quota) */
  constructor(readonly limit: number) {}

  /** Instances the org runs or is starting. */
  usedBy(org: string): number {
    return this.used.get(org) ?? 0;
  }

  /** A slot at once, or undefined when the org is at its quota (or others wait before). */
  tryTake(org: string): QuotaSlot | undefined {
    if (this.usedBy(org) >= this.limit || (this.waiting.get(org)?.length ?? 0) > 0) return undefined;
    return this.slot(org);
  }

  /**
   * A slot, waiting in line for one; rejects with the signal's reason when it
   * aborts first. `has` tells how many instances the function has (see above).
   */
  take(org: string, signal: AbortSignal, has: () => number = () => 0): Promise<QuotaSlot> {
    const now = this.tryTake(org);
    if (now) return Promise.resolve(now);
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const line = this.waiting.get(org) ?? [];
      this.waiting.set(org, line);
      const onAbort = () => {
        const at = line.indexOf(entry);
        if (at >= 0) line.splice(at, 1);
        if (line.length === 0 && this.waiting.get(org) === line) this.waiting.delete(org);
        reject(signal.reason);
      };
      const entry: Waiting = {
        has,
        grant: (slot) => {
          signal.removeEventListener("abort", onAbort);
          resolve(slot);
        },
      };
      signal.addEventListener("abort", onAbort, { once: true });
      line.push(entry);
    });
  }

  /**
   * A slot even past the quota: for the first instance of a new revision while
   * the old one still serves (a rollout), which would otherwise wait for the
   * old revision's slots, and those go only once the new one serves.
   */
  takeBeyond(org: string): QuotaSlot {
    return this.slot(org);
  }

  private slot(org: string): QuotaSlot {
    this.used.set(org, this.usedBy(org) + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = this.usedBy(org) - 1;
        if (left > 0) this.used.set(org, left);
        else this.used.delete(org);
        if (left >= this.limit) return;
        const line = this.waiting.get(org);
        const next = line ? takeNeediest(line) : undefined;
        if (line && line.length === 0) this.waiting.delete(org);
        next?.grant(this.slot(org));
      },
    };
  }
}

/** Removes and returns the entry whose function has the fewest instances (the earliest among equals). */
function takeNeediest(line: Waiting[]): Waiting | undefined {
  let best = 0;
  let fewest = Number.POSITIVE_INFINITY;
  for (const [i, entry] of line.entries()) {
    const has = entry.has();
    if (has < fewest) {
      fewest = has;
      best = i;
    }
  }
  return line.splice(best, 1)[0];
}
