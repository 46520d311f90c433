import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { BackoffOptions } from "@dispatch/server-kit";
import type { ChannelCredentials } from "@grpc/grpc-js";
import type { FilterRuntime } from "./filters/filter-chain.js";
import { createHttpFilterFactory, type FilterConfig } from "./filters/http-filters.js";
import { JwksCache } from "./filters/jwks-cache.js";
import { RateLimiter } from "./filters/rate-limit.js";
import { type AccessLogEntry, writeAccessLogLine } from "./proxy/access-log.js";
import { createJwksFetcher } from "./proxy/jwks-fetch.js";
import { UpstreamPools } from "./proxy/upstream-pool.js";
import { createProxyHandler } from "./proxy.js";
import { createResourceCompiler } from "./route-table/resource-compiler.js";
import type { GatewaySnapshot } from "./route-table/snapshot.js";
import { createXdsClient, type XdsClient, type XdsEvent } from "./xds-client/xds-client.js";

/** Where the gateway listens. */
export interface GatewayListen {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** Options of {@link startGateway}. */
export interface GatewayOptions {
  /** The ADS server: `host:port`, this gateway's node id, and its node token if the server asks for one. */
  readonly ads: {
    readonly address: string;
    readonly nodeId: string;
    readonly nodeCluster?: string;
    readonly token?: string;
    readonly credentials?: ChannelCredentials;
  };
  /** The plain-HTTP listener. */
  readonly listen: GatewayListen;
  /** An optional HTTPS listener (PEM certificate and key) for clients that must use TLS. */
  readonly listenTls?: GatewayListen & { readonly cert: string | Buffer; readonly key: string | Buffer };
  /** The Listener (xDS) to serve; default: the only one, else the first by name. */
  readonly listener?: string;
  /** Where access log lines go; default one JSON line per request on stdout; false: nowhere. */
  readonly accessLog?: ((entry: AccessLogEntry) => void) | false;
  /** Where the gateway reports trouble; default stderr. */
  readonly log?: (message: string, error?: unknown) => void;
  /** Largest RE2 program a pushed regex may have; default 100 (Envoy's). */
  readonly maxRegexProgramSize?: number;
  /** Reconnect spacing of the ADS stream. */
  readonly backoff?: BackoffOptions;
  /** How long a subscribed resource may go unsent before it is taken not to exist; default 15 s. */
  readonly doesNotExistTimeoutMs?: number;
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port` of the plain listener. */
  readonly url: string;
  /** `https://host:port` of the TLS listener, if any. */
  readonly tlsUrl: string | undefined;
  /** The configuration now. */
  snapshot(): GatewaySnapshot;
  /** ADS events (ACK, NACK, snapshot swaps, connection changes); returns the unsubscribe. */
  onEvent(listener: (event: XdsEvent) => void): () => void;
  /** Resolves once the first configuration is in place. */
  ready(signal?: AbortSignal): Promise<GatewaySnapshot>;
  /** Stops taking requests, lets those in flight finish (at most `graceMs`), and ends the ADS stream. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the embedded gateway: a Delta ADS client of the xDS server and an
 * HTTP proxy that routes exactly as the pushed Envoy config says.
 *
 * @example
 * const gateway = await startGateway({ ads: { address: "127.0.0.1:18000", nodeId: "gateway" }, listen: { port: 8080 } });
 * await gateway.ready();
 * console.log(`serving at ${gateway.url}`);
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const log = options.log ?? ((message, error) => console.error(`gateway: ${message}`, error ?? ""));
  const factory = createHttpFilterFactory(options.maxRegexProgramSize);
  const compiler = createResourceCompiler({
    factory,
    ...(options.maxRegexProgramSize !== undefined
      ? { maxRegexProgramSize: options.maxRegexProgramSize }
      : {}),
  });
  const xds: XdsClient = createXdsClient({
    address: options.ads.address,
    nodeId: options.ads.nodeId,
    compiler,
    log,
    ...(options.ads.nodeCluster !== undefined ? { nodeCluster: options.ads.nodeCluster } : {}),
    ...(options.ads.token !== undefined ? { token: options.ads.token } : {}),
    ...(options.ads.credentials !== undefined ? { credentials: options.ads.credentials } : {}),
    ...(options.listener !== undefined ? { listenerName: options.listener } : {}),
    ...(options.backoff !== undefined ? { backoff: options.backoff } : {}),
    ...(options.doesNotExistTimeoutMs !== undefined
      ? { doesNotExistTimeoutMs: options.doesNotExistTimeoutMs }
      : {}),
  });
  const pools = new UpstreamPools();
  const runtime: FilterRuntime = {
    jwks: new JwksCache(createJwksFetcher(xds.current, pools), Date.now),
    rateLimiter: new RateLimiter(),
    now: Date.now,
    random: Math.random,
  };
  xds.onEvent((event) => {
    if (event.kind !== "snapshot") return;
    pools.keepOnly(new Set(event.snapshot.clusters.keys()));
    prefetchJwks(event.snapshot, runtime);
  });
  const accessLog = options.accessLog === false ? undefined : (options.accessLog ?? writeAccessLogLine);
  const handler = createProxyHandler({ snapshot: xds.current, runtime, pools, accessLog, log });

  const servers: { server: http.Server; sockets: Set<Socket> }[] = [];
  try {
    const plain = await listen(http.createServer({ maxHeaderSize: 64 * 1024 }, handler), options.listen);
    servers.push(plain);
    let tlsUrl: string | undefined;
    if (options.listenTls) {
      const secure = await listen(
        https.createServer(
          { maxHeaderSize: 64 * 1024, cert: options.listenTls.cert, key: options.listenTls.key },
          handler,
        ),
        options.listenTls,
      );
      servers.push(secure);
      tlsUrl = `https://${hostForUrl(options.listenTls.host)}:${(secure.server.address() as AddressInfo).port}`;
    }
    const url = `http://${hostForUrl(options.listen.host)}:${(plain.server.address() as AddressInfo).port}`;
    return {
      url,
      tlsUrl,
      snapshot: xds.current,
      onEvent: xds.onEvent,
      ready(signal) {
        const now = xds.current();
        if (now.generation > 0) return Promise.resolve(now);
        return new Promise((resolve, reject) => {
          const stop = xds.onEvent((event) => {
            if (event.kind !== "snapshot") return;
            stop();
            resolve(event.snapshot);
          });
          signal?.addEventListener(
            "abort",
            () => {
              stop();
              reject(signal.reason);
            },
            { once: true },
          );
        });
      },
      async close(graceMs = 5_000) {
        await Promise.all(servers.map((s) => closeServer(s, graceMs)));
        xds.close();
        pools.close();
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => closeServer(s, 0)));
    xds.close();
    pools.close();
    throw error;
  }
}

/** Starts fetching the JWKS of providers marked `async_fetch`, as Envoy does when a listener arrives. */
function prefetchJwks(snapshot: GatewaySnapshot, runtime: FilterRuntime): void {
  for (const tls of [false, true]) {
    for (const filter of snapshot.listener?.connectionManager(tls)?.filters ?? []) {
      const config = filter.config as FilterConfig;
      if (config.kind !== "jwt") continue;
      for (const provider of config.config.providers.values()) {
        if (provider.jwks.kind === "remote" && provider.jwks.asyncFetch) runtime.jwks.prefetch(provider.jwks);
      }
    }
  }
}

async function listen<S extends http.Server>(
  server: S,
  where: GatewayListen,
): Promise<{ server: S; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  // WebSocket and other upgrades need upgrade_configs the gateway does not implement: refuse them plainly.
  server.on("upgrade", (_req, socket: Socket) => {
    const body = JSON.stringify({
      error: {
        type: "InputError",
        message: "connection upgrades (WebSocket) are not supported by the gateway",
      },
    });
    socket.end(
      `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(where.port, where.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return { server, sockets };
}

async function closeServer(
  { server, sockets }: { server: http.Server; sockets: Set<Socket> },
  graceMs: number,
): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => {
    for (const socket of sockets) socket.destroy();
  }, graceMs);
  await closed;
  clearTimeout(timer);
}

function hostForUrl(host: string | undefined): string {
  const h = host ?? "127.0.0.1";
  return h.includes(":") ? `[${h}]` : h;
}
