import { randomBytes, timingSafeEqual } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Role, type Token, TokenSchema } from "@dispatch/proto";
import type { KV, KvEntry } from "@nats-io/kv";
import type { ErrorLogger } from "../errors.js";
import { followKv } from "../nats/follow-kv.js";
import type { OrgDirectory } from "./org-directory.js";
import type { Principal } from "./principal.js";
import {
  hashTokenSecret,
  type RecordProblem,
  readTokenRecord,
  signTokenRecord,
  type TokenFields,
  type TokenRecord,
  type TokenRole,
} from "./token-record.js";

/** A new bearer secret: "dsp_" and 43 base64url characters (256 bits). */
export function newTokenSecret(): string {
  return `dsp_${randomBytes(32).toString("base64url")}`;
}

/** What {@link TokenRegistry} needs besides the bucket. */
export interface TokenRegistryOptions {
  /** Signs and verifies records ({@link tokenSigningKey} of the secret key). */
  signingKey: Buffer;
  /** The orgs that exist now, to check that a member token's org is the one it was issued for. */
  orgs: OrgDirectory;
  /** Where ignored records are reported (never with a secret). */
  log: ErrorLogger;
  /** Subscribes to NATS reconnects (`NatsHealth.onReconnect`), after which the watch resumes. */
  onReconnect?: (listener: () => void) => () => void;
}

/**
 * TokenRegistry keeps API tokens in the `tokens` KV bucket, keyed by name,
 * and an in-memory index by hash that a KV watch keeps current, so a revoked
 * token stops working everywhere without a restart and without polling.
 *
 * Records are read back as untrusted input: one whose fields are not valid or
 * whose signature does not verify (written straight into NATS, or by an older
 * Dispatch) is ignored and reported once.
 */
export class TokenRegistry {
  private readonly byHash = new Map<string, TokenRecord>();
  private readonly byName = new Map<string, TokenRecord>();
  private readonly waiters = new Map<string, () => void>();
  private readonly removals = new Map<string, () => void>();
  private readonly recent = new Map<string, { principal: Principal; orgUid: string }>();
  /** Records ignored while loading, reported after the bootstrap tokens are re-signed. */
  private readonly ignoredAtStart = new Map<string, RecordProblem>();
  private loading = true;
  private readonly abort = new AbortController();
  private watching: Promise<void> | undefined;

  constructor(
    private readonly kv: KV,
    private readonly options: TokenRegistryOptions,
  ) {}

  /** Loads every token, then follows changes until {@link close}. */
  async start(): Promise<void> {
    const watcher = await followKv(this.kv, this.options.onReconnect);
    let ready!: () => void;
    const synced = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const status = await this.kv.status();
    if (status.values === 0) ready();
    this.abort.signal.addEventListener("abort", () => watcher.stop(), { once: true });
    this.watching = (async () => {
      for await (const entry of watcher) {
        this.apply(entry);
        if (entry.delta === 0) ready();
      }
      ready();
    })();
    await synced;
  }

  private apply(entry: KvEntry): void {
    this.recent.clear();
    const previous = this.byName.get(entry.key);
    if (previous) this.byHash.delete(previous.sha256);
    this.byName.delete(entry.key);
    this.ignoredAtStart.delete(entry.key);
    if (entry.operation !== "PUT") {
      this.removals.get(entry.key)?.();
      return;
    }
    const read = readTokenRecord(this.options.signingKey, entry.key, entry.value);
    if (!read.ok) {
      if (this.loading) this.ignoredAtStart.set(entry.key, read.problem);
      else this.report(entry.key, read.problem);
      return;
    }
    this.byHash.set(read.record.sha256, read.record);
    this.byName.set(entry.key, read.record);
    this.waiters.get(read.record.sha256)?.();
  }

  /**
   * Logs the records that were ignored at start and are still there (call
   * after {@link ensure} re-signed the bootstrap tokens); later ones are
   * logged as they arrive.
   */
  reportIgnored(): void {
    this.loading = false;
    for (const [name, problem] of this.ignoredAtStart) this.report(name, problem);
    this.ignoredAtStart.clear();
  }

  private report(name: string, problem: RecordProblem): void {
    const fix = `if it should work, re-create it: "dispatch delete token ${name}", then "dispatch create token ${name} ..."`;
    const how =
      problem.kind === "forged"
        ? "it may have been written straight into NATS"
        : problem.kind === "unsigned"
          ? "tokens made before this version must be issued again"
          : "the record is damaged or was not written by Dispatch";
    this.options.log(`token "${name}"`, `ignored: ${problem.message} (${how}); ${fix}`);
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.watching;
  }

  /** The caller a bearer secret stands for, or undefined. */
  authenticate(secret: string): Principal | undefined {
    // Hashing on every call costs more than the lookup; remember recent
    // answers (cleared whenever any token changes, so revocation is immediate).
    let found = this.recent.get(secret);
    if (!found) {
      found = this.lookup(secret);
      if (!found) return undefined;
      if (this.recent.size >= 1000) this.recent.clear();
      this.recent.set(secret, found);
    }
    // A member token works only while its org is the org it was issued for:
    // deleted, or deleted and created again, it is another tenant.
    const { principal, orgUid } = found;
    if (principal.org !== undefined && this.options.orgs.uidOf(principal.org) !== orgUid) return undefined;
    return principal;
  }

  private lookup(secret: string): { principal: Principal; orgUid: string } | undefined {
    const digest = hashTokenSecret(secret);
    const token = this.byHash.get(digest);
    if (!token || !timingSafeEqual(Buffer.from(token.sha256), Buffer.from(digest))) return undefined;
    return {
      principal: {
        token: token.name,
        role: roleOf(token.role),
        org: token.role === "member" ? token.org : undefined,
      },
      orgUid: token.orgUid,
    };
  }

  /**
   * Makes sure a token with this name and secret exists, signed by this
   * control plane (used for the admin token that `dispatch up` keeps in its
   * data dir: a record of an older version, or one written by someone else,
   * is replaced). Idempotent.
   */
  async ensure(name: string, secret: string, role: Role, org = "", orgUid = ""): Promise<void> {
    const current = this.byName.get(name);
    const fields = toFields(name, secret, role, org, orgUid);
    if (
      current &&
      current.sha256 === fields.sha256 &&
      current.role === fields.role &&
      current.org === fields.org &&
      current.orgUid === fields.orgUid
    ) {
      return;
    }
    await this.kv.put(name, JSON.stringify(signTokenRecord(this.options.signingKey, fields)));
    await this.waitFor(fields.sha256);
  }

  /**
   * Creates a token; returns it and its secret. Fails if the name is taken.
   * A member token is bound to `orgUid`, the uid of its org now.
   */
  async create(
    name: string,
    role: Role,
    org: string,
    orgUid: string,
  ): Promise<{ token: Token; secret: string }> {
    const secret = newTokenSecret();
    const fields = toFields(name, secret, role, org, orgUid);
    await this.kv.create(name, JSON.stringify(signTokenRecord(this.options.signingKey, fields)));
    await this.waitFor(fields.sha256);
    if (fields.org !== "") await this.options.orgs.waitFor(fields.org, fields.orgUid);
    return { token: toToken(fields), secret };
  }

  /** Every token that authenticates (signed and valid), sorted by name. */
  async list(): Promise<Token[]> {
    return [...this.byName.values()].map(toToken).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Revokes a token; returns it, or undefined when there was none. A record
   * that is ignored (unsigned, damaged) can be deleted too.
   */
  async delete(name: string): Promise<Token | undefined> {
    const entry = await this.kv.get(name);
    if (entry?.operation !== "PUT") return undefined;
    const known = this.byName.get(name);
    await this.kv.delete(name, { previousSeq: entry.revision });
    // Revoked when this returns: the watch has dropped it here too.
    await this.waitUntilGone(name);
    return known ? toToken(known) : create(TokenSchema, { name });
  }

  /** Revokes every token of an org (when the org is deleted); returns their names. */
  async revokeOrg(org: string): Promise<string[]> {
    const names = [...this.byName.values()].filter((t) => t.org === org).map((t) => t.name);
    for (const name of names) {
      await this.kv.delete(name);
      await this.waitUntilGone(name);
    }
    return names;
  }

  /** Waits until the watch has seen a token's deletion, so it no longer authenticates. */
  private async waitUntilGone(name: string): Promise<void> {
    if (!this.byName.has(name)) return;
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

  /** Whether a record of this name is stored (valid or not: the name is taken either way). */
  async exists(name: string): Promise<boolean> {
    const entry = await this.kv.get(name);
    return entry?.operation === "PUT";
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

function toFields(name: string, secret: string, role: Role, org: string, orgUid: string): TokenFields {
  const member = role === Role.ORG_MEMBER;
  return {
    name,
    org: member ? org : "",
    orgUid: member ? orgUid : "",
    role: recordRoleOf(role),
    sha256: hashTokenSecret(secret),
    created: new Date().toISOString(),
  };
}

function toToken(record: Omit<TokenRecord, "v" | "mac">): Token {
  return create(TokenSchema, {
    name: record.name,
    org: record.org,
    role: roleOf(record.role),
    created: timestampFromDate(new Date(record.created)),
  });
}

/** The API role of a record's role. */
function roleOf(role: TokenRole): Role {
  return role === "admin" ? Role.ADMIN : role === "component" ? Role.COMPONENT : Role.ORG_MEMBER;
}

/** The record role of an API role (the token service accepts only these three). */
function recordRoleOf(role: Role): TokenRole {
  if (role === Role.ADMIN) return "admin";
  if (role === Role.COMPONENT) return "component";
  if (role === Role.ORG_MEMBER) return "member";
  throw new Error(`role ${role} is not a token role`);
}
