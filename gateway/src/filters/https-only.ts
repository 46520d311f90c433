import type { LocalReply } from "../route-table/local-reply.js";
import type { RequestView } from "../route-table/request.js";
import type { TlsRequirement } from "../route-table/route-table.js";
import { stripPort } from "../route-table/virtual-host-index.js";

/**
 * The scheme a request arrived with, as Envoy decides it: the downstream
 * connection's (TLS or not), unless the connection manager trusts proxies in
 * front of it (`xff_num_trusted_hops` > 0) and the request carries a valid
 * `x-forwarded-proto`. A client cannot claim HTTPS over a plain connection to
 * an edge gateway: its `x-forwarded-proto` is overwritten.
 */
export function downstreamScheme(
  tls: boolean,
  forwardedProto: string | undefined,
  xffNumTrustedHops: number,
): "http" | "https" {
  if (xffNumTrustedHops > 0 && forwardedProto !== undefined) {
    const claimed = forwardedProto.trim().toLowerCase();
    if (claimed === "http" || claimed === "https") return claimed;
  }
  return tls ? "https" : "http";
}

/**
 * `VirtualHost.require_tls`: a plain-HTTP request to a virtual host that
 * requires TLS is redirected (301) to the same URL over HTTPS, as Envoy does.
 * `EXTERNAL_ONLY` exempts requests from internal addresses
 * (`x-envoy-internal: true`, set by the gateway only for loopback and private
 * peers without forwarded hops).
 */
export function requireTls(
  requirement: TlsRequirement,
  request: RequestView,
  internal: boolean,
): LocalReply | undefined {
  if (requirement === "none" || request.scheme === "https") return undefined;
  if (requirement === "external-only" && internal) return undefined;
  const host = stripPort(request.authority);
  const location = `https://${host}${request.path}`;
  return {
    status: 301,
    body: `this virtual host takes HTTPS only: use ${location}`,
    flags: [],
    details: "tls_required",
    headers: [["location", location]],
  };
}
