import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import type { Writable } from "node:stream";
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
  /**
   * The downstream response, not yet started: the client went away when it
   * closes before finishing.
   */
  readonly downstream: Writable;
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
      /**
       * Calls `expired` if the route timeout passes while the response is
       * still streaming (at once if it has passed); until `done`.
       */
      readonly onTimeout: (expired: () => void) => void;
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
  const { cluster, pools, downstream } = request;
  const policy = request.retryPolicy;
  let retriesLeft = policy?.numRetries ?? 0;
  let staleRetried = false;
  let attempts = 0;
  let upstream: string | undefined;
  const pool = pools.pool(cluster.cluster);

  const stop = new Stop();
  const onDownstreamClose = () => {
    if (!downstream.writableFinished) stop.halt("client");
  };
  downstream.once("close", onDownstreamClose);
  // The route timeout: armed once the request has fully arrived.
  let routeTimer: NodeJS.Timeout | undefined;
  let finished = false;
  if (request.action.timeoutMs > 0) {
    request.body.onComplete(() => {
      if (finished) return;
      routeTimer = setTimeout(() => stop.halt("route-timeout"), request.action.timeoutMs);
    });
  }
  let keepTimer = false;
  const finish = () => {
    finished = true;
    clearTimeout(routeTimer);
    stop.listener = undefined;
  };

  try {
    for (;;) {
      if (stop.clientGone) return { kind: "aborted", upstream, attempts };
      if (stop.timedOut) return timeoutReply(upstream, attempts);
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
        const response = result.response;
        if (
          policy &&
          retriesLeft > 0 &&
          request.body.canAttempt() &&
          shouldRetry(policy, {
            kind: "response",
            status: response.statusCode ?? 502,
            header: (name) => headerValue(response.headers[name]),
          })
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
          onTimeout: (expired) => {
            if (finished) return;
            if (stop.timedOut) expired();
            else
              stop.listener = () => {
                if (stop.timedOut) expired();
              };
          },
          done: () => {
            if (finished) return;
            finish();
            release();
          },
        };
      }
      release();
      request.body.detach();
      if (stop.clientGone) return { kind: "aborted", upstream, attempts };
      if (stop.timedOut) return timeoutReply(upstream, attempts);
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
    // From here the proxy watches the client itself (the response is about to start).
    downstream.off("close", onDownstreamClose);
    if (!keepTimer) finish();
  }
}

/**
 * Why a forwarded request stops early: the client went away, or the route
 * timeout passed. Only one party listens at a time (the running attempt, the
 * back-off between attempts, or the streaming response), so this is one
 * callback field, not an AbortController with `AbortSignal.any`: those cost
 * an AbortSignal, a DOMException and event-target bookkeeping per request, a
 * good part of the proxy's CPU per call (bench/src/gateway.ts).
 */
class Stop {
  clientGone = false;
  timedOut = false;
  /** Told once, when the first reason comes. */
  listener: (() => void) | undefined;

  get stopped(): boolean {
    return this.clientGone || this.timedOut;
  }

  /** The error an attempt's upstream request is destroyed with. */
  get reason(): Error {
    return this.clientGone ? new Error("the client went away") : new AttemptTimeout("route");
  }

  halt(why: "client" | "route-timeout"): void {
    const first = !this.stopped;
    if (why === "client") this.clientGone = true;
    else this.timedOut = true;
    if (first) this.listener?.();
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
  stop: Stop,
): Promise<boolean> {
  const ms = retryBackoffMs(policy, retry, random());
  if (ms <= 0 || stop.stopped) return Promise.resolve(!stop.stopped);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stop.listener = undefined;
      resolve(true);
    }, ms);
    stop.listener = () => {
      stop.listener = undefined;
      clearTimeout(timer);
      resolve(false);
    };
  });
}

function attempt(
  request: ForwardRequest,
  pool: ClusterPool,
  endpoint: UpstreamEndpoint,
  attemptNumber: number,
  perTryTimeoutMs: number | undefined,
  stop: Stop,
): Promise<AttemptResult> {
  // The request's own headers, with `host` (and the attempt count) set last; no copy of the list.
  // Over TLS the agent reads `host` back from the request's header map (for SNI), so those keep one.
  const host: readonly [string, string] = ["host", request.authority(endpoint)];
  const last: (readonly [string, string])[] = request.includeAttemptCount
    ? [["x-envoy-attempt-count", String(attemptNumber)], host]
    : [host];
  const headers = (!pool.tls && request.headers.toFlat(last)) || request.headers.toObject(last);
  const client = pool.tls ? https : http;
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    let perTryTimer: NodeJS.Timeout | undefined;
    let connectTimer: NodeJS.Timeout | undefined;
    const upstream = client.request({
      agent: pool.agent,
      host: endpoint.address,
      port: endpoint.port,
      method: request.method,
      path: request.path,
      headers,
      setHost: false,
    });
    const settle = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(perTryTimer);
      clearTimeout(connectTimer);
      stop.listener = undefined;
      resolve(result);
    };
    stop.listener = () => upstream.destroy(stop.reason);
    if (perTryTimeoutMs !== undefined) {
      perTryTimer = setTimeout(() => upstream.destroy(new AttemptTimeout("per-try")), perTryTimeoutMs);
    }
    upstream.on("socket", (socket: Socket) => {
      if (!socket.connecting) {
        connected = true;
        return;
      }
      connectTimer = setTimeout(
        () => upstream.destroy(new AttemptTimeout("connect")),
        request.cluster.cluster.connectTimeoutMs,
      );
      socket.once(pool.tls ? "secureConnect" : "connect", () => {
        connected = true;
        clearTimeout(connectTimer);
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
  // Read from rawHeaders only: `response.headers` would build a second, parsed copy.
  const raw = response.rawHeaders;
  let connectionTokens: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== "connection") continue;
    for (const t of (raw[i + 1] as string).split(",")) {
      const token = t.trim().toLowerCase();
      // Hop-by-hop ones are dropped anyway ("keep-alive" and "close" need no set).
      if (hopByHop.has(token)) continue;
      connectionTokens ??= new Set();
      connectionTokens.add(token);
    }
  }
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (hopByHop.has(name) || connectionTokens?.has(name)) continue;
    headers.add(name, raw[i + 1] as string);
  }
  return headers;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(",") : value;
}
