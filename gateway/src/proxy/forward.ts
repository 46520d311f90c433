import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import { pickEndpoint, type UpstreamEndpoint } from "../route-table/endpoints.js";
import { HeaderList } from "../route-table/header-list.js";
import type { LocalReply } from "../route-table/local-reply.js";
import {
  type AttemptFailure,
  type CompiledRetryPolicy,
  retryBackoffMs,
  shouldRetry,
} from "../route-table/retry-policy.js";
import type { ForwardAction } from "../route-table/route-action.js";
import type { ResolvedCluster } from "../route-table/snapshot.js";
import { hopByHop } from "./downstream.js";
import type { RequestBody } from "./request-body.js";
import type { ClusterPool, UpstreamPools } from "./upstream-pool.js";

/** Everything one forwarded request needs. */
export interface ForwardRequest {
  readonly cluster: ResolvedCluster;
  readonly action: ForwardAction;
  readonly retryPolicy: CompiledRetryPolicy | undefined;
  readonly method: string;
  /** The upstream `:path` (after rewrites). */
  readonly path: string;
  /** The upstream `:authority`, or a function of the endpoint (`auto_host_rewrite`). */
  readonly authority: (endpoint: UpstreamEndpoint) => string;
  /** Request headers after every edit. */
  readonly headers: HeaderList;
  readonly includeAttemptCount: boolean;
  readonly body: RequestBody;
  readonly pools: UpstreamPools;
  readonly random: () => number;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
}

/** How a forwarded request ended for the access log. */
export interface ForwardOutcome {
  /** The status sent downstream (0 when the client left before any). */
  readonly status: number;
  readonly upstream: string | undefined;
  readonly attempts: number;
  readonly flags: readonly string[];
}

/** What forwarding produced: an upstream response to stream, or a local reply to send instead. */
export type ForwardResult =
  | {
      readonly kind: "response";
      readonly response: http.IncomingMessage;
      readonly request: http.ClientRequest;
      readonly upstream: string;
      readonly attempts: number;
      /** Aborted when the route timeout passes while the response is still streaming. */
      readonly timeout: AbortSignal;
      /** Call once the response is over (or abandoned): frees the endpoint and the timer. */
      readonly done: () => void;
    }
  | {
      readonly kind: "reply";
      readonly reply: LocalReply;
      readonly upstream: string | undefined;
      readonly attempts: number;
    }
  | { readonly kind: "aborted"; readonly upstream: string | undefined; readonly attempts: number };

type AttemptResult =
  | { kind: "response"; response: http.IncomingMessage; request: http.ClientRequest }
  | { kind: "failure"; failure: AttemptFailure; error: Error; reusedSocket: boolean };

class AttemptTimeout extends Error {
  constructor(readonly scope: "connect" | "per-try" | "route") {
    super(`${scope} timeout`);
    this.name = "AttemptTimeout";
  }
}

const upstreamResetBody = "upstream connect error or disconnect/reset before headers. reset reason:";

/**
 * Envoy's router for one request: picks an endpoint, sends the request over
 * the cluster's keep-alive pool, and retries as the route's retry policy says
 * (with jittered back-off, a fresh endpoint each time, only while the body can
 * be sent again and before anything went downstream). The route timeout runs
 * from the moment the whole request has arrived; the per-try timeout bounds
 * each attempt until its response headers. A kept-alive connection the
 * upstream closed just as it was reused is tried once more on a new one, as
 * that is no failure of the upstream.
 */
export async function forwardRequest(request: ForwardRequest): Promise<ForwardResult> {
  const { cluster, pools } = request;
  const policy = request.retryPolicy;
  let retriesLeft = policy?.numRetries ?? 0;
  let staleRetried = false;
  let attempts = 0;
  let upstream: string | undefined;
  const pool = pools.pool(cluster.cluster);

  // The route timeout: armed once the request has fully arrived.
  const routeTimeout = new AbortController();
  let routeTimer: NodeJS.Timeout | undefined;
  if (request.action.timeoutMs > 0) {
    request.body.onComplete(() => {
      routeTimer = setTimeout(
        () => routeTimeout.abort(new AttemptTimeout("route")),
        request.action.timeoutMs,
      );
    });
  }
  const stop = AbortSignal.any([request.signal, routeTimeout.signal]);
  let keepTimer = false;
  const finish = () => clearTimeout(routeTimer);

  try {
    for (;;) {
      if (request.signal.aborted) return { kind: "aborted", upstream, attempts };
      if (routeTimeout.signal.aborted) return timeoutReply(upstream, attempts);
      const endpoint = pickEndpoint(
        cluster.endpoints,
        cluster.cluster.lbPolicy,
        pools.balancer(cluster.endpoints),
        request.random,
        (e) => pools.inFlight(e),
      );
      if (!endpoint) {
        return {
          kind: "reply",
          reply: localReply(503, "no healthy upstream", "UH", "no_healthy_upstream"),
          upstream,
          attempts,
        };
      }
      if (pool.inFlight >= cluster.cluster.maxRequests) {
        return {
          kind: "reply",
          reply: localReply(503, `${upstreamResetBody} overflow`, "UO", "upstream_overflow"),
          upstream,
          attempts,
        };
      }
      attempts++;
      upstream = endpoint.key;
      const release = pools.begin(pool, endpoint);
      const result = await attempt(request, pool, endpoint, attempts, policy?.perTryTimeoutMs, stop);
      if (result.kind === "response") {
        const status = result.response.statusCode ?? 502;
        const header = (name: string) => headerValue(result.response.headers[name]);
        if (
          policy &&
          retriesLeft > 0 &&
          request.body.canAttempt() &&
          shouldRetry(policy, { kind: "response", status, header })
        ) {
          result.response.resume();
          result.request.destroy();
          release();
          request.body.detach();
          retriesLeft--;
          await backoff(policy, attempts, request.random, stop);
          continue;
        }
        // The route timeout covers the whole response (Envoy: until it is completely processed).
        keepTimer = true;
        return {
          kind: "response",
          response: result.response,
          request: result.request,
          upstream: endpoint.key,
          attempts,
          timeout: routeTimeout.signal,
          done: () => {
            finish();
            release();
          },
        };
      }
      release();
      request.body.detach();
      if (request.signal.aborted) return { kind: "aborted", upstream, attempts };
      if (routeTimeout.signal.aborted) return timeoutReply(upstream, attempts);
      if (
        result.reusedSocket &&
        !staleRetried &&
        result.failure.kind === "reset" &&
        request.body.canAttempt()
      ) {
        staleRetried = true;
        attempts--;
        continue;
      }
      if (policy && retriesLeft > 0 && request.body.canAttempt() && shouldRetry(policy, result.failure)) {
        retriesLeft--;
        await backoff(policy, attempts, request.random, stop);
        continue;
      }
      return { kind: "reply", reply: failureReply(result.failure), upstream, attempts };
    }
  } finally {
    if (!keepTimer) finish();
  }
}

function timeoutReply(upstream: string | undefined, attempts: number): ForwardResult {
  return {
    kind: "reply",
    reply: localReply(504, "upstream request timeout", "UT", "upstream_response_timeout"),
    upstream,
    attempts,
  };
}

function failureReply(failure: AttemptFailure): LocalReply {
  switch (failure.kind) {
    case "connect-failure":
      return localReply(
        503,
        `${upstreamResetBody} connection failure`,
        "UF",
        "upstream_reset_before_response_started{connection_failure}",
      );
    case "per-try-timeout":
      return localReply(504, "upstream request timeout", "UT", "upstream_per_try_timeout");
    case "reset":
      return localReply(
        503,
        `${upstreamResetBody} connection termination`,
        "UC",
        "upstream_reset_before_response_started{connection_termination}",
      );
    case "response":
      return localReply(failure.status, "", "", "via_upstream");
  }
}

function localReply(status: number, body: string, flag: string, details: string): LocalReply {
  return { status, body, flags: flag === "" ? [] : [flag], details, headers: [] };
}

/** Waits the retry back-off; false when stopped meanwhile. */
function backoff(
  policy: CompiledRetryPolicy,
  retry: number,
  random: () => number,
  stop: AbortSignal,
): Promise<boolean> {
  const ms = retryBackoffMs(policy, retry, random());
  if (ms <= 0 || stop.aborted) return Promise.resolve(!stop.aborted);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stop.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    stop.addEventListener("abort", onAbort, { once: true });
  });
}

function attempt(
  request: ForwardRequest,
  pool: ClusterPool,
  endpoint: UpstreamEndpoint,
  attemptNumber: number,
  perTryTimeoutMs: number | undefined,
  stop: AbortSignal,
): Promise<AttemptResult> {
  const headers = new HeaderList(request.headers.entries());
  if (request.includeAttemptCount) headers.set("x-envoy-attempt-count", String(attemptNumber));
  headers.set("host", request.authority(endpoint));
  const client = pool.tls ? https : http;
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const upstream = client.request({
      agent: pool.agent,
      host: endpoint.address,
      port: endpoint.port,
      method: request.method,
      path: request.path,
      headers: headers.toObject(),
      setHost: false,
    });
    const settle = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      stop.removeEventListener("abort", onStop);
      resolve(result);
    };
    const onStop = () =>
      upstream.destroy(stop.reason instanceof Error ? stop.reason : new AttemptTimeout("route"));
    stop.addEventListener("abort", onStop, { once: true });
    if (perTryTimeoutMs !== undefined) {
      timers.push(setTimeout(() => upstream.destroy(new AttemptTimeout("per-try")), perTryTimeoutMs));
    }
    upstream.on("socket", (socket: Socket) => {
      const connectEvent = pool.tls ? "secureConnect" : "connect";
      if (!socket.connecting) {
        connected = true;
        return;
      }
      const timer = setTimeout(
        () => upstream.destroy(new AttemptTimeout("connect")),
        request.cluster.cluster.connectTimeoutMs,
      );
      timers.push(timer);
      socket.once(connectEvent, () => {
        connected = true;
        clearTimeout(timer);
      });
    });
    upstream.once("response", (response) => settle({ kind: "response", response, request: upstream }));
    // Errors after the response headers surface on the response stream, which the proxy watches.
    upstream.on("error", () => {});
    upstream.once("error", (error: Error) => {
      let failure: AttemptFailure;
      if (error instanceof AttemptTimeout && error.scope === "per-try") failure = { kind: "per-try-timeout" };
      else if (!connected) failure = { kind: "connect-failure" };
      else failure = { kind: "reset", beforeRequestSent: !upstream.writableFinished };
      settle({ kind: "failure", failure, error, reusedSocket: upstream.reusedSocket });
    });
    request.body.attach(upstream);
  });
}

/** Copies an upstream response's headers for downstream, without hop-by-hop ones. */
export function responseHeaders(response: http.IncomingMessage): HeaderList {
  const headers = new HeaderList();
  const connectionTokens = new Set(
    (headerValue(response.headers.connection) ?? "").split(",").map((t) => t.trim().toLowerCase()),
  );
  const raw = response.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (hopByHop.has(name) || connectionTokens.has(name)) continue;
    headers.add(name, raw[i + 1] as string);
  }
  return headers;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}
