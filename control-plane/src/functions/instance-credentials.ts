import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import type { InstanceCredentials, RevisionSpec } from "@dispatch/server-kit";

/** What an instance credential says it was issued for. */
export interface CredentialClaims {
  org: string;
  function: string;
  /** The function's uid: a function created again under the name is another one. */
  uid: string;
  generation: bigint;
  /** The digest of the revision's bundle: the one bundle the credential may fetch. */
  digest: string;
}

/** Issues instance credentials and checks those presented back. */
export interface InstanceCredentialAuthority extends InstanceCredentials {
  /** What the credential was issued for, or undefined when this control plane did not issue it. */
  verify(credential: string): CredentialClaims | undefined;
}

const prefix = "dwc1";
const namePattern = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const digestPattern = /^sha256:[0-9a-f]{64}$/;
/** Longer than any credential this code issues; what is longer is refused unread. */
const maxLength = 2048;

/**
 * Instance credentials: what a worker takes calls with (`Dispatch-Worker-Token`)
 * and what a pod fetches its bundle with (`GET /bundles/<digest>`). Each is
 * `dwc1.<claims>.<mac>`: the revision it was issued for (org, function, uid,
 * generation, bundle digest) and a nonce of its own, under an HMAC-SHA256
 * keyed from the control plane's secret key (HKDF, so neither the sealing key
 * nor the token-record key is used twice). Any replica of the control plane
 * checks one without shared state; a worker only compares it, so it stays an
 * opaque secret to the runtimes.
 *
 * @example
 * const credentials = createInstanceCredentials(secretKey);
 * const token = credentials.issue(revision);
 * credentials.verify(token)?.digest === revision.bundle.digest; // true
 */
export function createInstanceCredentials(secretKey: Uint8Array): InstanceCredentialAuthority {
  const key = Buffer.from(hkdfSync("sha256", secretKey, "dispatch", "dispatch instance credentials v1", 32));
  const mac = (body: string) => createHmac("sha256", key).update(`${prefix}.${body}`).digest();
  return {
    issue(revision: RevisionSpec): string {
      const claims = {
        o: revision.org,
        f: revision.name,
        u: revision.uid,
        g: String(revision.generation),
        d: revision.bundle.digest,
        n: randomBytes(16).toString("base64url"),
      };
      const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
      return `${prefix}.${body}.${mac(body).toString("base64url")}`;
    },
    verify(credential: string): CredentialClaims | undefined {
      if (credential.length > maxLength) return undefined;
      const [head, body, signature, ...rest] = credential.split(".");
      if (head !== prefix || body === undefined || signature === undefined || rest.length > 0)
        return undefined;
      const given = Buffer.from(signature, "base64url");
      const expected = mac(body);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      // Signed by this control plane, so well formed; checked all the same.
      let claims: Record<string, unknown>;
      try {
        claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as Record<string, unknown>;
      } catch {
        return undefined;
      }
      const { o, f, u, g, d } = claims;
      if (
        typeof o !== "string" ||
        !namePattern.test(o) ||
        typeof f !== "string" ||
        !namePattern.test(f) ||
        typeof u !== "string" ||
        typeof g !== "string" ||
        !/^\d{1,19}$/.test(g) ||
        typeof d !== "string" ||
        !digestPattern.test(d)
      ) {
        return undefined;
      }
      return { org: o, function: f, uid: u, generation: BigInt(g), digest: d };
    },
  };
}
