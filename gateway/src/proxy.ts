import type { ClientRequest, IncomingMessage, ServerResponse } from "node:http";
import { TLSSocket } from "node:tls";
import { type FilterResult, type FilterRuntime, runFilterChain } from "./filters/filter-chain.js";
import { requireTls } from "./filters/https-only.js";
import type { AccessLogEntry } from "./proxy/access-log.js";
import { type DownstreamRequest, prepareRequest } from "./proxy/downstream.js";
import { forwardRequest, responseHeaders } from "./proxy/forward.js";
import { RequestBody } from "./proxy/request-body.js";
import type { UpstreamPools } from "./proxy/upstream-pool.js";
import { HeaderList } from "./route-table/header-list.js";
import {
  applyHeaderMutation,
  type HeaderContext,
  type HeaderMutation,
} from "./route-table/header-mutation.js";
import type { ConnectionManager } from "./route-table/listener.js";
import { defaultReplyRenderer, type LocalReply, type LocalReplyRenderer } from "./route-table/local-reply.js";
import { pickCluster, redirectLocation, rewritePath } from "./route-table/rewrite.js";
import type { ForwardAction, WeightedTarget } from "./route-table/route-action.js";
import type { CompiledRoute, CompiledVirtualHost, RouteTable } from "./route-table/route-table.js";
import { type GatewaySnapshot, routeTableOf } from "./route-table/snapshot.js";

/** What the proxy is built from. */
export interface ProxyOptions {
  /** The configuration now; read once per request. */
  readonly snapshot: () => GatewaySnapshot;
  readonly runtime: FilterRuntime;
  readonly pools: UpstreamPools;
  /** Where access log entries go; none are made without one. */
  readonly accessLog: ((entry: AccessLogEntry) => void) | undefined;
  readonly log: (message: string, error?: unknown) => void;
  /** How much of a request body is kept so a retry can send it again; default 1 MiB. */
  readonly retryBufferBytes?: number;
}

/** Envoy's default per-request buffer: 1 MiB. */
const defaultRetryBufferBytes = 1024 * 1024;

/** One request's running account, for the access log. */
interface Account {
  status: number;
  route: string | undefined;
  cluster: string | undefined;
  upstream: string | undefined;
  attempts: number;
  flags: string[];
}

/**
 * The gateway's request handler: the only place requests meet I/O. Each
 * request takes the snapshot current when it arrives and keeps it to the end;
 * goes through the connection manager (path normalization, forwarded headers),
 * routing, `require_tls`, the HTTP filters, and the router; and ends with one
 * access log line.
 */
export function createProxyHandler(
  options: ProxyOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = performance.now();
    const startTime = new Date();
    const account: Account = {
      status: 0,
      route: undefined,
      cluster: undefined,
      upstream: undefined,
      attempts: 0,
      flags: [],
    };
    let requestId = "";
    const accessLog = options.accessLog;
    if (accessLog) {
      res.once("close", () => {
        if (!res.writableFinished && !account.flags.includes("DC") && account.status === 0)
          account.flags.push("DC");
        accessLog({
          time: startTime.toISOString(),
          method: req.method ?? "",
          path: req.url ?? "",
          authority: req.headers.host ?? "",
          status: res.headersSent ? res.statusCode : account.status,
          durationMs: Math.round((performance.now() - started) * 1000) / 1000,
          route: account.route,
          cluster: account.cluster,
          upstream: account.upstream,
          attempts: account.attempts,
          flags: account.flags.join(","),
          requestId,
        });
      });
    }
    handle(req, res, options, account, startTime, (id) => {
      requestId = id;
    }).catch((error: unknown) => {
      options.log(`handling ${req.method} ${req.url} failed`, error);
      if (!res.headersSent) {
        const rendered = defaultReplyRenderer.render(
          {
            status: 500,
            body: "the gateway failed to handle this request",
            flags: [],
            details: "internal_error",
            headers: [],
          },
          replyContext(req, startTime, undefined, undefined),
        );
        res
          .writeHead(rendered.status, { "content-type": rendered.contentType ?? "text/plain" })
          .end(rendered.body);
      } else {
        res.destroy();
      }
    });
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: ProxyOptions,
  account: Account,
  startTime: Date,
  setRequestId: (id: string) => void,
): Promise<void> {
  const snapshot = options.snapshot();
  const tls = req.socket instanceof TLSSocket;
  const manager = snapshot.listener?.connectionManager(tls);
  if (!manager) {
    const body =
      snapshot.generation === 0
        ? "the gateway has not received its configuration yet; try again shortly"
        : `the gateway's listener takes no ${tls ? "TLS" : "plain-text"} connections`;
    account.flags.push("NR");
    return sendReply(
      res,
      defaultReplyRenderer,
      { status: 503, body, flags: ["NR"], details: "no_listener", headers: [] },
      {
        req,
        startTime,
        route: undefined,
        extraHeaders: undefined,
        view: undefined,
        account,
      },
    );
  }
  const table = routeTableOf(snapshot, manager);
  const prepared = prepareRequest(
    {
      method: req.method ?? "GET",
      url: req.url ?? "/",
      rawHeaders: req.rawHeaders,
      tls,
      remoteAddress: req.socket.remoteAddress ?? "",
      remotePort: req.socket.remotePort ?? 0,
    },
    manager,
    table?.internalOnlyHeaders ?? [],
  );
  const reply = (r: LocalReply, extra?: ReplyExtras) =>
    sendReply(res, manager.localReplies, r, {
      req,
      startTime,
      route: extra?.route,
      extraHeaders: extra?.headers,
      view: "view" in prepared ? prepared : undefined,
      account,
      manager,
    });
  if ("status" in prepared) return reply(prepared);
  setRequestId(prepared.requestId);
  const { view } = prepared;

  const random = options.runtime.random();
  const selection = table ? table.route(view, random) : { virtualHost: undefined, route: undefined };
  account.route = selection.route?.name;
  if (selection.virtualHost) {
    const redirect = requireTls(selection.virtualHost.requireTls, view, prepared.internal);
    if (redirect) return reply(redirect);
  }
  const action = selection.route?.action;
  const picked = action?.kind === "forward" ? pickCluster(action.clusters, view, random) : undefined;

  // From here on the body is read: kept for retries up to the route's (or virtual host's) buffer limit.
  const body = new RequestBody(
    req,
    selection.route?.perRequestBufferLimitBytes ??
      selection.virtualHost?.perRequestBufferLimitBytes ??
      options.retryBufferBytes ??
      defaultRetryBufferBytes,
  );
  res.once("finish", () => {
    if (!body.complete) body.discard();
  });
  armDownstreamTimeouts(req, res, manager, body, reply, account);

  const chain = await runFilterChain(
    { manager, table, selection, weighted: picked?.weighted, request: view, random },
    options.runtime,
  );
  // The client left, or a downstream timeout answered, while the filters worked.
  if (res.destroyed || res.headersSent) return;
  if (chain.respond) {
    account.status = chain.respond.status;
    const headers = new HeaderList(chain.respond.headers);
    finishHeaders(headers, manager, prepared);
    res.writeHead(chain.respond.status, headers.toObject()).end();
    return;
  }
  if (chain.reply) {
    account.flags.push(...chain.reply.flags);
    return reply(chain.reply);
  }
  for (const name of chain.removeRequestHeaders) prepared.headers.remove(name);
  for (const [name, value] of chain.setRequestHeaders) prepared.headers.set(name, value);
  for (const [name, value] of chain.addRequestHeaders) prepared.headers.add(name, value);

  const route = selection.route;
  const virtualHost = selection.virtualHost;
  if (!route || !virtualHost || !table || !action) {
    account.flags.push("NR");
    return reply(
      {
        status: 404,
        body: "no route matches this request",
        flags: ["NR"],
        details: "route_not_found",
        headers: [],
      },
      { headers: chain.responseHeaders },
    );
  }
  const levels: RouteLevels = { table, virtualHost, route, weighted: picked?.weighted };
  const headerContext = contextOf(req, view);
  const routeReply = (r: LocalReply) =>
    reply(r, { route: { levels, context: headerContext }, headers: chain.responseHeaders });
  switch (action.kind) {
    case "direct":
      return routeReply({
        status: action.status,
        body: action.body ?? "",
        flags: [],
        details: "direct_response",
        headers: [],
      });
    case "redirect":
      return routeReply({
        status: action.status,
        body: "",
        flags: [],
        details: "redirect",
        headers: [["location", redirectLocation(view, action, route.match.path)]],
      });
    case "forward":
      return forward(res, options, snapshot, {
        action,
        levels,
        prepared,
        headerContext,
        body,
        chain,
        account,
        clusterName: picked?.name,
        manager,
        routeReply,
      });
  }
}

/**
 * The connection manager's downstream timeouts: `request_timeout` (the whole
 * request must arrive in time) and `stream_idle_timeout` (no byte either way
 * for that long). Before the response has started the client gets a 408 and
 * the connection is closed; after, the response is cut off.
 */
function armDownstreamTimeouts(
  req: IncomingMessage,
  res: ServerResponse,
  manager: ConnectionManager,
  body: RequestBody,
  reply: (r: LocalReply) => void,
  account: Account,
): void {
  const expire = (flag: string, message: string) => {
    account.flags.push(flag);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.setHeader("connection", "close");
    res.once("finish", () => req.socket.destroy());
    reply({ status: 408, body: message, flags: [flag], details: message.replaceAll(" ", "_"), headers: [] });
  };
  if (manager.streamIdleTimeoutMs > 0) {
    res.setTimeout(manager.streamIdleTimeoutMs, () => expire("SI", "stream timeout"));
  }
  if (manager.requestTimeoutMs > 0 && !body.complete) {
    const timer = setTimeout(() => {
      if (!body.complete) expire("DT", "request timeout");
    }, manager.requestTimeoutMs);
    body.onComplete(() => clearTimeout(timer));
    res.once("close", () => clearTimeout(timer));
  }
}

/** The four levels whose header edits and configs apply to a routed request, most specific first. */
interface RouteLevels {
  readonly table: RouteTable;
  readonly virtualHost: CompiledVirtualHost;
  readonly route: CompiledRoute;
  readonly weighted: WeightedTarget | undefined;
}

interface ForwardContext {
  readonly action: ForwardAction;
  readonly levels: RouteLevels;
  readonly prepared: DownstreamRequest;
  readonly headerContext: HeaderContext;
  readonly body: RequestBody;
  readonly chain: FilterResult;
  readonly account: Account;
  readonly clusterName: string | undefined;
  readonly manager: ConnectionManager;
  readonly routeReply: (reply: LocalReply) => void;
}

async function forward(
  res: ServerResponse,
  options: ProxyOptions,
  snapshot: GatewaySnapshot,
  context: ForwardContext,
): Promise<void> {
  const { action, levels, prepared, account } = context;
  account.cluster = context.clusterName;
  const cluster = context.clusterName !== undefined ? snapshot.clusters.get(context.clusterName) : undefined;
  if (!cluster) {
    account.flags.push("NC");
    return context.routeReply({
      status: action.clusterNotFoundStatus,
      body: "the route's cluster is not configured",
      flags: ["NC"],
      details: "cluster_not_found",
      headers: [],
    });
  }
  const headers = prepared.headers;
  for (const mutation of mutationsInOrder(levels, "request", levels.table.mostSpecificHeaderMutationsWins)) {
    applyHeaderMutation(headers, mutation, context.headerContext);
  }
  const hostRewrite =
    levels.weighted?.hostRewrite !== undefined
      ? { kind: "literal" as const, host: levels.weighted.hostRewrite }
      : action.hostRewrite;
  let authority: (endpoint: { address: string; port: number; key: string }) => string = () =>
    prepared.authority;
  switch (hostRewrite?.kind) {
    case "literal":
      authority = () => hostRewrite.host;
      break;
    case "auto":
      authority = (endpoint) => endpoint.key;
      break;
    case "header": {
      const value = prepared.view.header(hostRewrite.header);
      if (value) authority = () => value;
      break;
    }
  }
  if (hostRewrite && action.appendXForwardedHost) {
    const previous = headers.get("x-forwarded-host");
    headers.set(
      "x-forwarded-host",
      previous ? `${previous}, ${prepared.originalAuthority}` : prepared.originalAuthority,
    );
  }
  const result = await forwardRequest({
    cluster,
    action,
    retryPolicy: action.retryPolicy ?? levels.virtualHost.retryPolicy,
    method: prepared.view.method,
    path: rewritePath(prepared.view.path, levels.route.match.path, action.pathRewrite),
    authority,
    headers,
    includeAttemptCount: levels.virtualHost.includeAttemptCount,
    body: context.body,
    pools: options.pools,
    random: options.runtime.random,
    downstream: res,
  });
  account.upstream = result.upstream;
  account.attempts = result.attempts;
  if (result.kind === "response" && (res.headersSent || res.destroyed)) {
    // A downstream timeout answered meanwhile.
    result.request.destroy();
    result.done();
    return;
  }
  if (result.kind === "aborted") {
    account.flags.push("DC");
    return;
  }
  if (result.kind === "reply") {
    account.flags.push(...result.reply.flags);
    if (result.reply.details === "via_upstream") account.status = result.reply.status;
    return context.routeReply(result.reply);
  }
  const upstream = result.response;
  const out = responseHeaders(upstream);
  for (const mutation of mutationsInOrder(levels, "response", levels.table.mostSpecificHeaderMutationsWins)) {
    applyHeaderMutation(out, mutation, context.headerContext);
  }
  for (const [name, value] of context.chain.responseHeaders) out.set(name, value);
  finishHeaders(out, context.manager, prepared);
  const status = upstream.statusCode ?? 502;
  account.status = status;
  res.writeHead(status, upstream.statusMessage, out.toFlat() ?? out.toObject());
  streamResponse(res, result, account);
}

/**
 * Streams an upstream response downstream with backpressure, and ends both
 * sides together: the client going away (or a downstream timeout cutting
 * the response off) destroys the upstream request; an upstream response
 * that breaks off before its end (`UPE`) or outlives the route timeout (`UT`)
 * cuts the client's response off, as Envoy resets the downstream stream.
 * Written out rather than `stream.pipeline` (an AbortController and an
 * AbortError per response, the largest single cost of a proxied call in
 * bench/src/gateway.ts) or `pipe` (eight listeners where two do).
 */
function streamResponse(
  res: ServerResponse,
  result: {
    response: IncomingMessage;
    request: ClientRequest;
    onTimeout: (expired: () => void) => void;
    done: () => void;
  },
  account: Account,
): void {
  const upstream = result.response;
  let over = false;
  let draining = false;
  const end = (broken: boolean) => {
    if (over) return;
    over = true;
    upstream.off("close", onUpstreamClose);
    res.off("close", onDownstreamClose);
    result.done();
    if (broken) {
      upstream.off("data", onData);
      result.request.destroy();
      upstream.destroy();
      res.destroy();
    }
  };
  const onData = (chunk: Buffer) => {
    if (res.write(chunk) || draining) return;
    draining = true;
    upstream.pause();
    res.once("drain", () => {
      draining = false;
      upstream.resume();
    });
  };
  const onUpstreamClose = () => {
    // Closed after its end: the response is whole, and ends downstream once written.
    if (over || upstream.readableEnded) return;
    account.flags.push("UPE");
    end(true);
  };
  const onDownstreamClose = () => end(!res.writableFinished);
  upstream.once("close", onUpstreamClose);
  res.once("close", onDownstreamClose);
  // Failures are handled on "close"; these keep an "error" from being thrown.
  upstream.on("error", ignore);
  res.on("error", ignore);
  result.onTimeout(() => {
    if (over || res.writableFinished) return;
    account.flags.push("UT");
    end(true);
  });
  upstream.on("data", onData);
  upstream.once("end", () => res.end());
  // Broken off between its headers and now: its "close" may already be past.
  if (upstream.destroyed) onUpstreamClose();
}

function ignore(): void {}

/** Header edits of the routed levels in Envoy's order: weighted cluster, route, virtual host, route configuration (reversed when the most specific wins). */
function mutationsInOrder(
  levels: RouteLevels,
  kind: "request" | "response",
  mostSpecificWins: boolean,
): HeaderMutation[] {
  const order: HeaderMutation[] = [];
  for (const level of [levels.weighted, levels.route, levels.virtualHost, levels.table]) {
    if (level) order.push(kind === "request" ? level.requestHeaders : level.responseHeaders);
  }
  return mostSpecificWins ? order.reverse() : order;
}

/** The connection manager's own response headers: `server`, and the request id when asked for. */
function finishHeaders(
  headers: HeaderList,
  manager: ConnectionManager,
  prepared: DownstreamRequest | undefined,
): void {
  switch (manager.serverHeader) {
    case "overwrite":
      headers.set("server", manager.serverName);
      break;
    case "append-if-absent":
      if (!headers.has("server")) headers.set("server", manager.serverName);
      break;
    case "pass-through":
      break;
  }
  if (prepared && manager.alwaysSetRequestIdInResponse && prepared.requestId !== "") {
    headers.set("x-request-id", prepared.requestId);
  }
}

interface ReplyExtras {
  readonly route?: { readonly levels: RouteLevels; readonly context: HeaderContext } | undefined;
  readonly headers?: readonly (readonly [string, string])[] | undefined;
}

/** Renders and sends a local reply (after the route's response header edits, for replies the router makes). */
function sendReply(
  res: ServerResponse,
  renderer: LocalReplyRenderer,
  reply: LocalReply,
  context: {
    req: IncomingMessage;
    startTime: Date;
    route: ReplyExtras["route"];
    extraHeaders: ReplyExtras["headers"];
    view: DownstreamRequest | undefined;
    account: Account;
    manager?: ConnectionManager;
  },
): void {
  if (res.headersSent || res.destroyed) return;
  const { account } = context;
  for (const flag of reply.flags) if (!account.flags.includes(flag)) account.flags.push(flag);
  const rendered = renderer.render(
    reply,
    replyContext(context.req, context.startTime, context.view, account),
  );
  const headers = new HeaderList(rendered.headers);
  if (context.route) {
    const { levels } = context.route;
    for (const mutation of mutationsInOrder(
      levels,
      "response",
      levels.table.mostSpecificHeaderMutationsWins,
    )) {
      applyHeaderMutation(headers, mutation, context.route.context);
    }
  }
  for (const [name, value] of context.extraHeaders ?? []) headers.set(name, value);
  if (rendered.contentType !== undefined) headers.set("content-type", rendered.contentType);
  const bytes = Buffer.from(rendered.body);
  headers.set("content-length", String(bytes.length));
  if (context.manager) finishHeaders(headers, context.manager, context.view);
  account.status = rendered.status;
  res.writeHead(rendered.status, headers.toObject());
  res.end(context.req.method === "HEAD" ? undefined : bytes);
}

function replyContext(
  req: IncomingMessage,
  startTime: Date,
  prepared: DownstreamRequest | undefined,
  account: Account | undefined,
) {
  return {
    request: prepared?.view,
    routeName: account?.route,
    upstreamHost: account?.upstream,
    protocol: `HTTP/${req.httpVersion}`,
    startTime,
    remoteAddress: req.socket.remoteAddress ?? "",
    remotePort: req.socket.remotePort ?? 0,
  };
}

function contextOf(req: IncomingMessage, view: DownstreamRequest["view"]): HeaderContext {
  return {
    request: view,
    remoteAddress: req.socket.remoteAddress ?? "",
    remotePort: req.socket.remotePort ?? 0,
    localAddress: req.socket.localAddress ?? "",
    localPort: req.socket.localPort ?? 0,
    protocol: `HTTP/${req.httpVersion}`,
  };
}
