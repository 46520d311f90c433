import { createHash, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { checkName, Violations } from "../validation/violations.js";

/**
 * One API token as the `tokens` KV bucket holds it: never the secret, only
 * its SHA-256 hash, and an HMAC over every field made with a key that only the
 * control plane has. Anyone who can write the bucket can write JSON; without
 * the key they cannot write a record this control plane accepts, so a record
 * written straight into NATS never makes an admin.
 */
export interface TokenRecord {
  /** The format version; records without one (older Dispatch) are not signed. */
  v: typeof recordVersion;
  name: string;
  /** The org of a member token; empty for admins and components. */
  org: string;
  /**
   * The uid of that org when the token was issued: a token works only while
   * its org is the same object, so an org deleted and created again under the
   * same name is a new tenant that old tokens cannot reach.
   */
  orgUid: string;
  role: TokenRole;
  /** Hex SHA-256 of the bearer secret. */
  sha256: string;
  /** ISO 8601. */
  created: string;
  /** base64url HMAC-SHA256 of the fields above and the record's key. */
  mac: string;
}

/**
 * What a token may do: "admin" everything in every org; "member" everything
 * in its org but status writes; "component" read every org and write status.
 */
export type TokenRole = "admin" | "member" | "component";

const tokenRoles: readonly string[] = ["admin", "member", "component"] satisfies TokenRole[];

/** The fields a caller supplies; the version and MAC are added by {@link signTokenRecord}. */
export type TokenFields = Omit<TokenRecord, "v" | "mac">;

const recordVersion = 2;

/**
 * The key that signs token records, derived (HKDF-SHA256) from the control
 * plane's secret key, so the record key is never the sealing key itself and
 * neither is ever stored in NATS.
 */
export function tokenSigningKey(secretKey: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", secretKey, "dispatch", "dispatch token records v2", 32));
}

/** Hex SHA-256 of a bearer secret, as records store it. */
export function hashTokenSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** The record for `fields`, signed with `key` for the KV key `fields.name`. */
export function signTokenRecord(key: Buffer, fields: TokenFields): TokenRecord {
  const unsigned = { v: recordVersion, ...fields } as const;
  return { ...unsigned, mac: mac(key, unsigned) };
}

/** Why a stored token record was not accepted. */
export type RecordProblem =
  /** Written by a Dispatch older than signed records (no `v`, no `mac`). */
  | { kind: "unsigned"; message: string }
  /** A field is missing or not what a record can hold. */
  | { kind: "invalid"; message: string }
  /** Well formed, but the MAC does not verify: not written by this control plane. */
  | { kind: "forged"; message: string };

/** A record read back from the store: accepted, or why not. */
export type ReadRecord = { ok: true; record: TokenRecord } | { ok: false; problem: RecordProblem };

/**
 * Parses and checks a record read from the KV key `key`: every field is
 * validated (the role is one of the known ones, the org a valid name, the name
 * the key) and the MAC must verify. Nothing read from the store is trusted
 * before this returns ok.
 */
export function readTokenRecord(key: Buffer, kvKey: string, bytes: Uint8Array): ReadRecord {
  const invalid = (message: string): ReadRecord => ({ ok: false, problem: { kind: "invalid", message } });
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return invalid("it is not JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    return invalid("it is not a JSON object");
  const r = raw as Record<string, unknown>;
  if (r.v === undefined && r.mac === undefined) {
    return {
      ok: false,
      problem: { kind: "unsigned", message: "it was stored by an older Dispatch, without a signature" },
    };
  }
  if (r.v !== recordVersion)
    return invalid(`its format version ${JSON.stringify(r.v)} is not ${recordVersion}`);
  const text = (field: string, max: number): string | undefined => {
    const value = r[field];
    return typeof value === "string" && value.length <= max ? value : undefined;
  };
  const name = text("name", 63);
  const org = text("org", 63);
  const orgUid = text("orgUid", 64);
  const role = r.role;
  const sha256 = text("sha256", 64);
  const created = text("created", 40);
  const signature = text("mac", 64);
  if (name === undefined || name !== kvKey) return invalid("its name is not the key it is stored under");
  const names = new Violations();
  checkName(names, "name", name);
  if (!names.empty) return invalid("its name is not a valid name");
  if (typeof role !== "string" || !tokenRoles.includes(role))
    return invalid(`its role ${JSON.stringify(role)} is not admin, member or component`);
  if (org === undefined || orgUid === undefined) return invalid("it has no org or org uid");
  if (role !== "member" && (org !== "" || orgUid !== "")) return invalid(`a ${role} token names an org`);
  if (role === "member") {
    checkName(names, "org", org);
    if (!names.empty) return invalid("its org is not a valid name");
    if (!/^[0-9a-f-]{1,64}$/.test(orgUid)) return invalid("its org uid is not a uid");
  }
  if (sha256 === undefined || !/^[0-9a-f]{64}$/.test(sha256))
    return invalid("its hash is not a SHA-256 digest");
  if (created === undefined || Number.isNaN(Date.parse(created)))
    return invalid("its creation time is not a time");
  if (signature === undefined) return invalid("it has no signature");
  const record: TokenRecord = {
    v: recordVersion,
    name,
    org,
    orgUid,
    role: role as TokenRole,
    sha256,
    created,
    mac: signature,
  };
  const { mac: _, ...unsigned } = record;
  const expected = Buffer.from(mac(key, unsigned));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    return {
      ok: false,
      problem: {
        kind: "forged",
        message: "its signature does not match: it was not written by this control plane",
      },
    };
  }
  return { ok: true, record };
}

/**
 * The HMAC over a record's fields in a fixed order (not JSON.stringify of the
 * object, whose key order a writer controls).
 */
function mac(key: Buffer, r: Omit<TokenRecord, "mac">): string {
  const canonical = JSON.stringify([
    "dispatch-token",
    r.v,
    r.name,
    r.org,
    r.orgUid,
    r.role,
    r.sha256,
    r.created,
  ]);
  return createHmac("sha256", key).update(canonical).digest("base64url");
}
