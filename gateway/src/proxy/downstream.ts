import { randomUUID } from "node:crypto";
import { isIP } from "node:net";
import { downstreamScheme } from "../filters/https-only.js";
import { HeaderList } from "../route-table/header-list.js";
import type { ConnectionManager } from "../route-table/listener.js";
import type { LocalReply } from "../route-table/local-reply.js";
import { normalizePath } from "../route-table/path-normalize.js";
import { createRequestView, type RequestView } from "../route-table/request.js";

/** Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy ones: never forwarded either way. */
export const hopByHop: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

/** What arrived on the connection, as node:http gives it. */
export interface RawRequest {
  readonly method: string;
  readonly url: string;
  /** `rawHeaders`: name, value, name, value, … */
  readonly rawHeaders: readonly string[];
  readonly tls: boolean;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** A request after the connection manager: headers sanitized, path normalized. */
export interface DownstreamRequest {
  readonly view: RequestView;
  /** The headers that go upstream (before route edits), without hop-by-hop ones and Host. */
  readonly headers: HeaderList;
  /** Whether it comes from an internal address (for `require_tls: EXTERNAL_ONLY`, `internal_only_headers`). */
  readonly internal: boolean;
  readonly requestId: string;
  /** The authority forwarded upstream (case kept, ports stripped as configured). */
  readonly authority: string;
  /** The authority as the client sent it, for x-forwarded-host. */
  readonly originalAuthority: string;
}

/**
 * Prepares a request the way Envoy's connection manager does before routing:
 * the path normalized (or the request refused or redirected), the Host checked,
 * `x-forwarded-proto` set from the connection unless trusted hops may set it,
 * the peer appended to `x-forwarded-for` when `use_remote_address`, the
 * route configuration's `internal_only_headers` removed from external requests, and an
 * `x-request-id` generated when there is none (or when the request is external
 * and not `preserve_external_request_id`).
 */
export function prepareRequest(
  raw: RawRequest,
  manager: ConnectionManager,
  internalOnlyHeaders: readonly string[],
): DownstreamRequest | LocalReply {
  let url = raw.url;
  let absoluteHost: string | undefined;
  if (!url.startsWith("/")) {
    // An absolute-form target (RFC 9112 §3.2.2): its authority wins over Host.
    try {
      const parsed = new URL(url);
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error("scheme");
      absoluteHost = parsed.host;
      url = parsed.pathname + parsed.search;
    } catch {
      return badRequest(
        `${JSON.stringify(url.slice(0, 100))} is not a request path; send a path starting with /`,
      );
    }
  }
  const headerBytes = raw.rawHeaders.reduce((n, s) => n + s.length + 2, 0);
  if (headerBytes > manager.maxRequestHeadersKb * 1024) {
    return {
      status: 431,
      body: `the request headers are larger than ${manager.maxRequestHeadersKb} KiB`,
      flags: [],
      details: "header_overflow",
      headers: [],
    };
  }
  const headers = new HeaderList();
  let host: string | undefined;
  let connectionTokens: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.rawHeaders.length; i += 2) {
    const name = (raw.rawHeaders[i] as string).toLowerCase();
    const value = raw.rawHeaders[i + 1] as string;
    if (name === "host") {
      host ??= value;
      continue;
    }
    if (name === "connection") {
      for (const t of value.split(",")) {
        const token = t.trim().toLowerCase();
        // Only these are removed below ("keep-alive" and "close" need no set).
        if (hopByHop.has(token) && token !== "te") continue;
        connectionTokens ??= new Set();
        connectionTokens.add(token);
      }
    }
    if (name === "te" && value.trim().toLowerCase() === "trailers") {
      headers.add(name, value);
      continue;
    }
    if (hopByHop.has(name)) continue;
    headers.add(name, value);
  }
  if (connectionTokens) for (const token of connectionTokens) headers.remove(token);

  const originalAuthority = absoluteHost ?? host;
  if (originalAuthority === undefined || originalAuthority === "") {
    return badRequest("the request has no Host header; HTTP/1.1 requires one");
  }
  let authority = originalAuthority;
  if (manager.stripTrailingHostDot) authority = authority.replace(/\.(?=(:[0-9]+)?$)/, "");
  if (manager.stripAnyHostPort) authority = authority.replace(/:[0-9]+$/, "");

  const normalized = normalizePath(url, {
    normalize: manager.normalizePath,
    mergeSlashes: manager.mergeSlashes,
    escapedSlashes: manager.escapedSlashes,
  });
  if (normalized.kind === "reject") return badRequest(normalized.reason);
  if (normalized.kind === "redirect") {
    return {
      status: 307,
      body: "",
      flags: [],
      details: "path_normalization_redirect",
      headers: [["location", normalized.path]],
    };
  }

  const scheme = downstreamScheme(raw.tls, headers.get("x-forwarded-proto"), manager.xffNumTrustedHops);
  headers.set("x-forwarded-proto", scheme);
  const forwardedFor = headers.get("x-forwarded-for");
  const internal = forwardedFor === undefined && isInternalAddress(raw.remoteAddress);
  if (manager.useRemoteAddress && !manager.skipXffAppend) {
    headers.set(
      "x-forwarded-for",
      forwardedFor ? `${forwardedFor}, ${raw.remoteAddress}` : raw.remoteAddress,
    );
  }
  // internal_only_headers: an outside client cannot set what only internal callers may.
  if (!internal) for (const name of internalOnlyHeaders) headers.remove(name);
  if (manager.via !== "") headers.add("via", manager.via);
  let requestId = headers.get("x-request-id");
  if (
    manager.generateRequestId &&
    (requestId === undefined || (!internal && !manager.preserveExternalRequestId))
  ) {
    requestId = randomUUID();
    headers.set("x-request-id", requestId);
  }
  const view = createRequestView({
    method: raw.method,
    path: normalized.path,
    authority: authority.toLowerCase(),
    scheme,
    headers: headers.entries(),
  });
  return { view, headers, internal, requestId: requestId ?? "", authority, originalAuthority };
}

function badRequest(message: string): LocalReply {
  return { status: 400, body: message, flags: [], details: "bad_request", headers: [] };
}

/** The last address asked about and the answer: a kept-alive connection asks again and again. */
let lastAddress = "";
let lastInternal = false;

/** Loopback and private addresses (RFC 1918, RFC 4193): Envoy's notion of internal. */
export function isInternalAddress(address: string): boolean {
  if (address !== lastAddress) {
    lastInternal = classifyAddress(address);
    lastAddress = address;
  }
  return lastInternal;
}

function classifyAddress(address: string): boolean {
  const ip = address.startsWith("::ffff:") ? address.slice(7) : address;
  const version = isIP(ip);
  if (version === 4) {
    const [a, b] = ip.split(".").map(Number) as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  }
  if (version === 6) return ip === "::1" || /^f[cd]/i.test(ip);
  return false;
}
