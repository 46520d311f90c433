import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Role, type Token, TokenSchema } from "@dispatch/proto";
import type { KV } from "@nats-io/kv";
import { followKv } from "../nats/follow-kv.js";
import type { Principal } from "./principal.js";

/** What the registry stores per token: never the secret, only its hash. */
interface StoredToken {
  name: string;
  org: string;
  role: "admin" | "member";
  sha256: string;
  created: string;
}

/** A new bearer secret: "dsp_" and 43 base64url characters (256 bits). */
export function newTokenSecret(): string {
  return `dsp_${randomBytes(32).toString("base64url")}`;
}

function hash(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/**
 * TokenRegistry keeps API tokens in the `tokens` KV bucket, keyed by name,
 * and an in-memory index by hash that a KV watch keeps current, so a revoked
 * token stops working everywhere without a restart and without polling.
 */
export class TokenRegistry {
  private readonly byHash = new Map<string, StoredToken>();
  private readonly waiters = new Map<string, () => void>();
  private readonly removals = new Map<string, () => void>();
  private readonly recent = new Map<string, Principal>();
  private readonly abort = new AbortController();
  private watching: Promise<void> | undefined;

  /** @param onReconnect subscribes to NATS reconnects (`NatsHealth.onReconnect`), after which the watch resumes. */
  constructor(
    private readonly kv: KV,
    private readonly onReconnect?: (listener: () => void) => () => void,
  ) {}

  /** Loads every token, then follows changes until {@link close}. */
  async start(): Promise<void> {
    const watcher = await followKv(this.kv, this.onReconnect);
    let ready!: () => void;
    const synced = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const byName = new Map<string, string>();
    const status = await this.kv.status();
    if (status.values === 0) ready();
    this.abort.signal.addEventListener("abort", () => watcher.stop(), { once: true });
    this.watching = (async () => {
      for await (const entry of watcher) {
        this.recent.clear();
        const previous = byName.get(entry.key);
        if (previous) this.byHash.delete(previous);
        if (entry.operation === "PUT") {
          const token = entry.json<StoredToken>();
          this.byHash.set(token.sha256, token);
          byName.set(entry.key, token.sha256);
          this.waiters.get(token.sha256)?.();
        } else {
          byName.delete(entry.key);
          this.removals.get(entry.key)?.();
        }
        if (entry.delta === 0) ready();
      }
      ready();
    })();
    await synced;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.watching;
  }

  /** The caller a bearer secret stands for, or undefined. */
  authenticate(secret: string): Principal | undefined {
    // Hashing on every call costs more than the lookup; remember recent
    // answers (cleared whenever any token changes, so revocation is immediate).
    const cached = this.recent.get(secret);
    if (cached) return cached;
    const principal = this.lookup(secret);
    if (principal) {
      if (this.recent.size >= 1000) this.recent.clear();
      this.recent.set(secret, principal);
    }
    return principal;
  }

  private lookup(secret: string): Principal | undefined {
    const digest = hash(secret);
    const token = this.byHash.get(digest);
    if (!token || !timingSafeEqual(Buffer.from(token.sha256), Buffer.from(digest))) return undefined;
    return {
      token: token.name,
      role: token.role === "admin" ? Role.ADMIN : Role.ORG_MEMBER,
      org: token.role === "admin" ? undefined : token.org,
    };
  }

  /**
   * Makes sure a token with this name and secret exists (used for the admin
   * token that `dispatch up` keeps in its data dir). Idempotent.
   */
  async ensure(name: string, secret: string, role: Role, org = ""): Promise<void> {
    const entry = await this.kv.get(name);
    const stored = entry?.operation === "PUT" ? entry.json<StoredToken>() : undefined;
    if (stored && stored.sha256 === hash(secret) && stored.role === roleName(role) && stored.org === org)
      return;
    await this.kv.put(name, JSON.stringify(toStored(name, secret, role, org)));
    await this.waitFor(hash(secret));
  }

  /** Creates a token; returns it and its secret. Fails if the name is taken. */
  async create(name: string, role: Role, org: string): Promise<{ token: Token; secret: string }> {
    const secret = newTokenSecret();
    const stored = toStored(name, secret, role, org);
    await this.kv.create(name, JSON.stringify(stored));
    await this.waitFor(stored.sha256);
    return { token: toToken(stored), secret };
  }

  /** Every token, sorted by name. */
  async list(): Promise<Token[]> {
    return [...this.byHash.values()].map(toToken).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Revokes a token; returns it, or undefined when there was none. */
  async delete(name: string): Promise<Token | undefined> {
    const entry = await this.kv.get(name);
    if (entry?.operation !== "PUT") return undefined;
    const stored = entry.json<StoredToken>();
    await this.kv.delete(name, { previousSeq: entry.revision });
    // Revoked when this returns: the watch has dropped it here too.
    await this.waitUntilGone(name, stored.sha256);
    return toToken(stored);
  }

  /** The token named so, if any. */
  async get(name: string): Promise<Token | undefined> {
    const entry = await this.kv.get(name);
    return entry?.operation === "PUT" ? toToken(entry.json<StoredToken>()) : undefined;
  }

  /** Waits until the watch has seen a token's deletion, so it no longer authenticates once delete returns. */
  private async waitUntilGone(name: string, digest: string): Promise<void> {
    if (!this.byHash.has(digest)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 10_000);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.removals.set(name, done);
    });
    this.removals.delete(name);
  }

  /** Waits until the watch has seen a token, so it authenticates as soon as create returns. */
  private async waitFor(digest: string): Promise<void> {
    if (this.byHash.has(digest)) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 10_000);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.waiters.set(digest, done);
    });
    this.waiters.delete(digest);
  }
}

function roleName(role: Role): StoredToken["role"] {
  return role === Role.ADMIN ? "admin" : "member";
}

function toStored(name: string, secret: string, role: Role, org: string): StoredToken {
  return {
    name,
    org: role === Role.ADMIN ? "" : org,
    role: roleName(role),
    sha256: hash(secret),
    created: new Date().toISOString(),
  };
}

function toToken(stored: StoredToken): Token {
  return create(TokenSchema, {
    name: stored.name,
    org: stored.org,
    role: stored.role === "admin" ? Role.ADMIN : Role.ORG_MEMBER,
    created: timestampFromDate(new Date(stored.created)),
  });
}
