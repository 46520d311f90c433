import { durationMs } from "@bufbuild/protobuf/wkt";
import type { DirectResponseAction, RedirectAction, Route, RouteAction } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import type { HttpFilterFactory, PerFilterConfig } from "./filter-factory.js";
import { compileHeaderMutation, type HeaderMutation } from "./header-mutation.js";
import { compilePerFilterConfigs } from "./per-filter-config.js";
import { checkSubstitution, compileRegex, type Regex } from "./regex.js";
import { type CompiledRetryPolicy, compileRetryPolicy } from "./retry-policy.js";
import type { PathSpecifier } from "./route-match.js";

/** Envoy's route timeout when a route sets none: 15 s. */
export const defaultRouteTimeoutMs = 15_000;

/** Envoy's cap on a direct response body (`max_direct_response_body_size_bytes`). */
export const defaultMaxDirectResponseBodyBytes = 4096;

/** A target cluster: named, or read from a request header. */
export type ClusterTarget = { readonly name: string } | { readonly header: string };

/** One entry of `weighted_clusters`, with its own header edits and per-filter configs. */
export interface WeightedTarget {
  readonly target: ClusterTarget;
  readonly weight: number;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly perFilter: ReadonlyMap<string, PerFilterConfig>;
  readonly hostRewrite: string | undefined;
}

/** Where a forwarding route sends the request. */
export type ClusterChoice =
  | { readonly kind: "single"; readonly target: ClusterTarget }
  | {
      readonly kind: "weighted";
      readonly total: number;
      readonly entries: readonly WeightedTarget[];
      /** `header_name`: a header whose value (a number) picks the entry instead of a random draw. */
      readonly randomHeader: string | undefined;
    };

/** How the upstream request's `:path` is rewritten. */
export type PathRewrite =
  | { readonly kind: "prefix"; readonly replacement: string }
  | { readonly kind: "regex"; readonly regex: Regex; readonly substitution: string };

/** How the upstream request's `:authority` is rewritten. */
export type HostRewrite =
  | { readonly kind: "literal"; readonly host: string }
  | { readonly kind: "auto" }
  | { readonly kind: "header"; readonly header: string };

/** `RouteAction`: forward to a cluster. */
export interface ForwardAction {
  readonly kind: "forward";
  readonly clusters: ClusterChoice;
  /** The answer when the chosen cluster is unknown (Envoy's `cluster_not_found_response_code`). */
  readonly clusterNotFoundStatus: number;
  /** Whole-request timeout (from the end of the request to the end of the response); 0: none. */
  readonly timeoutMs: number;
  readonly retryPolicy: CompiledRetryPolicy | undefined;
  readonly pathRewrite: PathRewrite | undefined;
  readonly hostRewrite: HostRewrite | undefined;
  readonly appendXForwardedHost: boolean;
  /** The legacy CORS policy of the route action, compiled by the CORS filter. */
  readonly cors: unknown;
}

/** `RedirectAction`: answer with a redirect built from the request. */
export interface RedirectRouteAction {
  readonly kind: "redirect";
  readonly scheme: string | undefined;
  readonly host: string | undefined;
  readonly port: number | undefined;
  readonly path:
    | { readonly kind: "path"; readonly path: string }
    | { readonly kind: "prefix"; readonly replacement: string }
    | { readonly kind: "regex"; readonly regex: Regex; readonly substitution: string }
    | undefined;
  readonly status: number;
  readonly stripQuery: boolean;
}

/** `DirectResponseAction`: answer with a fixed status and body. */
export interface DirectAction {
  readonly kind: "direct";
  readonly status: number;
  readonly body: string | undefined;
}

/** What a matched route does. */
export type CompiledAction = ForwardAction | RedirectRouteAction | DirectAction;

/** What compiling an action needs besides the action. */
export interface ActionContext {
  readonly factory: HttpFilterFactory;
  readonly maxProgramSize: number;
  readonly maxDirectResponseBodyBytes: number;
  readonly path: PathSpecifier;
}

/** `RedirectAction.RedirectResponseCode` → HTTP status. */
const redirectStatuses = [301, 302, 303, 307, 308];

/** `RouteAction.ClusterNotFoundResponseCode` → HTTP status. */
const clusterNotFoundStatuses = [503, 404, 500];

/** Compiles a route's action. */
export function compileAction(action: Route["action"], context: ActionContext): CompiledAction {
  switch (action.case) {
    case "route":
      return within("route", () => compileForward(action.value, context));
    case "redirect":
      return within("redirect", () => compileRedirect(action.value, context));
    case "directResponse":
      return within("direct_response", () => compileDirect(action.value, context));
    case "filterAction":
    case "nonForwardingAction":
      throw new ConfigError("action", `${action.case} routes are not supported by the gateway`);
    case undefined:
      throw new ConfigError("action", "is required (route, redirect or direct_response)");
  }
}

function compileForward(action: RouteAction, context: ActionContext): ForwardAction {
  const clusters = compileClusterChoice(action.clusterSpecifier, context);
  if (action.prefixRewrite !== "" && action.regexRewrite) {
    throw new ConfigError("", "set prefix_rewrite or regex_rewrite, not both");
  }
  if (action.pathRewritePolicy)
    throw new ConfigError("path_rewrite_policy", "is not supported by the gateway");
  let pathRewrite: PathRewrite | undefined;
  if (action.prefixRewrite !== "") {
    if (context.path.kind === "regex") {
      throw new ConfigError("prefix_rewrite", "cannot be used with a safe_regex match (use regex_rewrite)");
    }
    pathRewrite = { kind: "prefix", replacement: action.prefixRewrite };
  } else if (action.regexRewrite) {
    const rewrite = action.regexRewrite;
    const regex = within("regex_rewrite.pattern", () =>
      compileRegex(rewrite.pattern, context.maxProgramSize),
    );
    within("regex_rewrite", () => checkSubstitution(regex.source, rewrite.substitution));
    pathRewrite = { kind: "regex", regex, substitution: rewrite.substitution };
  }
  const host = action.hostRewriteSpecifier;
  let hostRewrite: HostRewrite | undefined;
  switch (host.case) {
    case "hostRewriteLiteral":
      hostRewrite = { kind: "literal", host: host.value };
      break;
    case "autoHostRewrite":
      if (host.value) hostRewrite = { kind: "auto" };
      break;
    case "hostRewriteHeader":
      hostRewrite = { kind: "header", header: host.value.toLowerCase() };
      break;
    case "hostRewritePathRegex":
      throw new ConfigError("host_rewrite_path_regex", "is not supported by the gateway");
  }
  if (action.requestMirrorPolicies.length > 0) {
    throw new ConfigError("request_mirror_policies", "request mirroring is not supported by the gateway");
  }
  if (action.hedgePolicy) throw new ConfigError("hedge_policy", "hedging is not supported by the gateway");
  if (action.retryPolicyTypedConfig) {
    throw new ConfigError(
      "retry_policy_typed_config",
      "retry policy extensions are not supported by the gateway",
    );
  }
  const status = clusterNotFoundStatuses[action.clusterNotFoundResponseCode];
  if (status === undefined) {
    throw new ConfigError(
      "cluster_not_found_response_code",
      `unknown code ${action.clusterNotFoundResponseCode}`,
    );
  }
  const retry = action.retryPolicy;
  const cors = action.cors;
  return {
    kind: "forward",
    clusters,
    clusterNotFoundStatus: status,
    timeoutMs: action.timeout ? durationMs(action.timeout) : defaultRouteTimeoutMs,
    retryPolicy: retry
      ? within("retry_policy", () => compileRetryPolicy(retry, context.maxProgramSize))
      : undefined,
    pathRewrite,
    hostRewrite,
    appendXForwardedHost: action.appendXForwardedHost,
    cors: cors ? within("cors", () => context.factory.compileRouteCors(cors)) : undefined,
  };
}

function compileClusterChoice(spec: RouteAction["clusterSpecifier"], context: ActionContext): ClusterChoice {
  switch (spec.case) {
    case "cluster":
      if (spec.value === "") throw new ConfigError("cluster", "must not be empty");
      return { kind: "single", target: { name: spec.value } };
    case "clusterHeader":
      if (spec.value === "") throw new ConfigError("cluster_header", "must not be empty");
      return { kind: "single", target: { header: spec.value.toLowerCase() } };
    case "weightedClusters": {
      const weighted = spec.value;
      if (weighted.clusters.length === 0)
        throw new ConfigError("weighted_clusters.clusters", "needs at least one cluster");
      const entries = weighted.clusters.map((c, i) =>
        within(`weighted_clusters.clusters[${i}]`, (): WeightedTarget => {
          if ((c.name === "") === (c.clusterHeader === "")) {
            throw new ConfigError("", "set exactly one of name and cluster_header");
          }
          const weight = c.weight ?? 0;
          return {
            target: c.name !== "" ? { name: c.name } : { header: c.clusterHeader.toLowerCase() },
            weight,
            requestHeaders: compileHeaderMutation(
              c.requestHeadersToAdd,
              c.requestHeadersToRemove,
              "request_headers",
            ),
            responseHeaders: compileHeaderMutation(
              c.responseHeadersToAdd,
              c.responseHeadersToRemove,
              "response_headers",
            ),
            perFilter: compilePerFilterConfigs(
              c.typedPerFilterConfig,
              context.factory,
              "typed_per_filter_config",
            ),
            hostRewrite:
              c.hostRewriteSpecifier.case === "hostRewriteLiteral" ? c.hostRewriteSpecifier.value : undefined,
          };
        }),
      );
      const sum = entries.reduce((s, e) => s + e.weight, 0);
      const total = weighted.totalWeight ?? sum;
      if (sum <= 0) {
        throw new ConfigError("weighted_clusters", "the sum of the cluster weights must be greater than 0");
      }
      if (weighted.totalWeight !== undefined && weighted.totalWeight !== sum) {
        throw new ConfigError(
          "weighted_clusters.total_weight",
          `is ${weighted.totalWeight} but the cluster weights add up to ${sum}`,
        );
      }
      return {
        kind: "weighted",
        total,
        entries,
        randomHeader:
          weighted.randomValueSpecifier.case === "headerName"
            ? weighted.randomValueSpecifier.value.toLowerCase()
            : undefined,
      };
    }
    case "clusterSpecifierPlugin":
    case "inlineClusterSpecifierPlugin":
      throw new ConfigError(spec.case, "cluster specifier plugins are not supported by the gateway");
    case undefined:
      throw new ConfigError(
        "cluster_specifier",
        "is required (cluster, cluster_header or weighted_clusters)",
      );
  }
}

function compileRedirect(action: RedirectAction, context: ActionContext): RedirectRouteAction {
  const status = redirectStatuses[action.responseCode];
  if (status === undefined)
    throw new ConfigError("response_code", `unknown redirect code ${action.responseCode}`);
  const scheme = action.schemeRewriteSpecifier;
  const rewrite = action.pathRewriteSpecifier;
  let path: RedirectRouteAction["path"];
  switch (rewrite.case) {
    case "pathRedirect":
      path = { kind: "path", path: rewrite.value };
      break;
    case "prefixRewrite":
      if (context.path.kind === "regex") {
        throw new ConfigError("prefix_rewrite", "cannot be used with a safe_regex match (use regex_rewrite)");
      }
      path = { kind: "prefix", replacement: rewrite.value };
      break;
    case "regexRewrite": {
      const r = rewrite.value;
      const regex = within("regex_rewrite.pattern", () => compileRegex(r.pattern, context.maxProgramSize));
      within("regex_rewrite", () => checkSubstitution(regex.source, r.substitution));
      path = { kind: "regex", regex, substitution: r.substitution };
      break;
    }
  }
  return {
    kind: "redirect",
    scheme:
      scheme.case === "httpsRedirect"
        ? scheme.value
          ? "https"
          : undefined
        : scheme.case === "schemeRedirect"
          ? scheme.value.toLowerCase()
          : undefined,
    host: action.hostRedirect === "" ? undefined : action.hostRedirect,
    port: action.portRedirect === 0 ? undefined : action.portRedirect,
    path,
    status,
    stripQuery: action.stripQuery,
  };
}

function compileDirect(action: DirectResponseAction, context: ActionContext): DirectAction {
  if (action.status < 200 || action.status >= 600) {
    throw new ConfigError("status", `${action.status} is not an HTTP status the gateway can answer with`);
  }
  let body: string | undefined;
  const source = action.body?.specifier;
  switch (source?.case) {
    case undefined:
      break;
    case "inlineString":
      body = source.value;
      break;
    case "inlineBytes":
      body = Buffer.from(source.value).toString("utf8");
      break;
    case "filename":
    case "environmentVariable":
      throw new ConfigError(
        `body.${source.case === "filename" ? "filename" : "environment_variable"}`,
        "inline the body instead: the gateway reads no files or environment for responses",
      );
  }
  if (body !== undefined && Buffer.byteLength(body) > context.maxDirectResponseBodyBytes) {
    throw new ConfigError(
      "body",
      `is ${Buffer.byteLength(body)} bytes, more than the ${context.maxDirectResponseBodyBytes} allowed (max_direct_response_body_size_bytes)`,
    );
  }
  return { kind: "direct", status: action.status, body };
}
