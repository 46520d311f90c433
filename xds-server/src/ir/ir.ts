/**
 * The ingress IR: what the gateway should do, as plain data, between the
 * Dispatch API (Endpoints, Functions) and Envoy's v3 resources.
 *
 * `translate/api-to-ir.ts` builds it and `translate/ir-to-envoy.ts` reads it;
 * neither imports the other, and this file imports nothing. Every array is
 * sorted by the translator that builds it, so the same API state always gives
 * the same IR (and the same bytes on the wire). Durations are milliseconds.
 */

/** The whole configuration: one HTTP listener, its virtual hosts, and the clusters its routes use. */
export interface IngressIR {
  listener: ListenerIR;
  /** Sorted by name; the any-host virtual host is named {@link ANY_HOST}. */
  virtualHosts: VirtualHostIR[];
  /** One per function a served route forwards to; sorted by name. */
  clusters: FunctionClusterIR[];
  /** One per endpoint with JWT auth; sorted by name. */
  jwtProviders: JwtProviderIR[];
  /** One per JWKS origin the providers fetch keys from; sorted by name. */
  jwksClusters: JwksClusterIR[];
  /**
   * Edits of every request's headers, whatever its route: headers only the
   * platform may send, removed from what clients send (sorted), and the
   * activator's credential when every call goes through it.
   */
  requestHeaders: { remove: string[]; set: { name: string; value: string }[] };
}

/** The name of the virtual host that serves endpoints without hosts. */
export const ANY_HOST = "*";

/** The HTTP listener and the route configuration it names. */
export interface ListenerIR {
  name: string;
  host: string;
  port: number;
  routeConfigName: string;
  /** Whether the listener is the edge: it trusts no X-Forwarded-For/-Proto from clients. */
  useRemoteAddress: boolean;
  /** Proxies in front of the listener whose X-Forwarded-* headers are trusted. */
  xffNumTrustedHops: number;
}

/** A set of domains and the routes served on them, first match wins. */
export interface VirtualHostIR {
  /** The host, or {@link ANY_HOST}. */
  name: string;
  domains: string[];
  /** In match order: most specific first. */
  routes: RouteIR[];
}

/** How a route matches the request path. Regexes are RE2 and match the whole path. */
export type PathMatchIR =
  | { kind: "exact"; path: string }
  /** The path starts with `prefix`, which ends with "/" ("/" matches every path). */
  | { kind: "prefix"; prefix: string }
  | { kind: "regex"; regex: string };

/** One path of one endpoint on one virtual host. */
export interface RouteIR {
  /** `<org>/<endpoint>/<path index>`: unique per virtual host. */
  name: string;
  /** `<org>/<endpoint>`: the endpoint this route serves (problems are reported against it). */
  endpoint: string;
  match: PathMatchIR;
  /** Upper-case HTTP methods, sorted; empty means every method. */
  methods: string[];
  /** Removed from the front of the path before forwarding (`/<org>` for other orgs' endpoints), if set. */
  stripPrefix?: string;
  /** Plain-HTTP requests are redirected to HTTPS. */
  httpsOnly: boolean;
  cors?: CorsIR;
  auth: AuthIR;
  rateLimit?: RateLimitIR;
  action: ActionIR;
}

/** Cross-origin resource sharing for a route (preflights are answered by the proxy). */
export interface CorsIR {
  /** Exact origins (`https://app.example.com`), or `*` for any origin; sorted. */
  allowOrigins: string[];
  allowMethods: string[];
  allowHeaders: string[];
  exposeHeaders: string[];
  allowCredentials: boolean;
  /** How long a browser may cache a preflight answer, if set. */
  maxAgeSeconds?: number;
}

/** Who may call a route. */
export type AuthIR =
  | { kind: "public" }
  /** A bearer JWT verified by the named provider. */
  | { kind: "jwt"; provider: string }
  /** A bearer token equal to one of these values (sorted); none means every call is refused. */
  | { kind: "token"; tokens: string[] };

/** A token bucket: `requests` calls per `perMs`, refilled in full each period. */
export interface RateLimitIR {
  requests: number;
  perMs: number;
}

/** What a matched request gets. */
export type ActionIR = ForwardIR | DirectIR;

/** Forward to one or more functions, split by weight. */
export interface ForwardIR {
  kind: "forward";
  /** Sorted by cluster name; weights are above zero. */
  backends: BackendIR[];
  /** The whole request's deadline, retries included; 0 means none. */
  timeoutMs: number;
  retries?: RetriesIR;
}

/** One weighted target of a route. */
export interface BackendIR {
  cluster: string;
  weight: number;
  org: string;
  function: string;
}

/** Retries of failed upstream attempts. */
export interface RetriesIR {
  attempts: number;
  /** Envoy `retry_on` conditions, sorted. */
  retryOn: string[];
  /** Each attempt's deadline, if set. */
  perTryTimeoutMs?: number;
}

/** Answer from the proxy itself (the function cannot serve, or the caller is refused). */
export interface DirectIR {
  kind: "direct";
  status: number;
  /** A sentence for the caller; the listener wraps local answers in a JSON error. */
  message: string;
}

/** An IP address and port. */
export interface AddressIR {
  host: string;
  port: number;
}

/**
 * One function as an upstream: its ready instances, or the activator when it has none
 * (the activator wakes the function and holds the call). Only `endpoints` differs
 * between the two, so the swap reaches a proxy as an EDS update alone.
 */
export interface FunctionClusterIR {
  /** `function/<org>/<name>`. */
  name: string;
  org: string;
  function: string;
  /** Sorted by host, then port. */
  endpoints: AddressIR[];
  /** Whether `endpoints` is the activator. */
  activator: boolean;
  connectTimeoutMs: number;
  /** Every endpoint (`<org>/<name>`) with a route to this function, sorted. */
  usedBy: string[];
}

/** A JWT issuer and where its keys are published. */
export interface JwtProviderIR {
  /** `<org>/<endpoint>`: one provider per endpoint. */
  name: string;
  endpoint: string;
  issuer: string;
  /** Sorted; empty accepts any audience. */
  audiences: string[];
  jwks: JwksIR;
}

/** Where a provider's keys come from. */
export type JwksIR =
  | {
      kind: "remote";
      uri: string;
      /** The {@link JwksClusterIR} the keys are fetched through. */
      cluster: string;
      /** How long fetched keys are kept. */
      cacheMs: number;
      /** The deadline of one fetch. */
      fetchTimeoutMs: number;
    }
  /** The key set itself (JSON with "keys"), for issuers the data plane cannot reach. */
  | { kind: "inline"; json: string };

/** An upstream for fetching JWKS documents: a DNS name (or IP) and port, over TLS for https. */
export interface JwksClusterIR {
  /** `jwks/<scheme>/<host>:<port>`. */
  name: string;
  host: string;
  port: number;
  tls: boolean;
  connectTimeoutMs: number;
  /** Every endpoint whose provider fetches through it, sorted. */
  usedBy: string[];
}
