import { existsSync } from "node:fs";
import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
} from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { homedir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { KubeConfig } from "@kubernetes/client-node";

/**
 * The Kubernetes API as Dispatch uses it (`dispatch install` and the driver):
 * JSON requests and watch streams.
 *
 * Configuration and authentication come from `@kubernetes/client-node`'s
 * `KubeConfig` (kubeconfig files, exec plugins, client certificates, the
 * in-cluster service account), loaded only here and only when something talks
 * to a cluster. The requests themselves are plain HTTP with the objects'
 * JSON as rendered: client-node's typed API would pass every body through
 * its model serializer, which drops fields its models lack and expects
 * renamed ones (a NetworkPolicy's `from` is its `_from`), so what a
 * server-side apply sends would not be what was rendered.
 */
export interface KubeApi {
  /** The API server's URL. */
  readonly server: string;
  /** The kubeconfig context in use ("in-cluster" inside a pod). */
  readonly context: string;
  /** One request; a 2xx answer's JSON, else {@link KubeApiError}. */
  request<T = unknown>(request: KubeRequest): Promise<T>;
  /** A watch stream's events until the server ends it, or `signal` aborts; an error event is yielded, not thrown. */
  watch(path: string, query: Query, signal: AbortSignal): AsyncGenerator<WatchEvent>;
}

/** Query parameters; undefined ones are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** What {@link KubeApi.request} sends. */
export interface KubeRequest {
  method: "GET" | "POST" | "PATCH" | "DELETE";
  path: string;
  query?: Query;
  body?: unknown;
  /** Default `application/json` when there is a body. */
  contentType?: string;
  signal?: AbortSignal;
}

/** One event of a watch stream. */
export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: Record<string, unknown>;
}

/**
 * The API server answered with an error: its `Status` (code, reason,
 * message), e.g. 409 `Conflict` for fields another manager owns.
 */
export class KubeApiError extends Error {
  override name = "KubeApiError";
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

/** The API server could not be reached, or did not answer in time. */
export class KubeConnectionError extends Error {
  override name = "KubeConnectionError";
}

/** No usable kubeconfig (none found, or the context asked for is not in it). */
export class KubeConfigError extends Error {
  override name = "KubeConfigError";
}

/** Where {@link connectKube} finds the cluster. */
export interface ConnectKubeOptions {
  /** A kubeconfig file; default `$KUBECONFIG`, else `~/.kube/config`, else the pod's service account. */
  kubeconfig?: string;
  /** A context of the kubeconfig; default its current one. */
  context?: string;
  env: NodeJS.ProcessEnv;
  /** How long one request may wait for an answer; default 30 s. */
  requestTimeoutMs?: number;
  /** The `User-Agent` of every request (audit logs name the client by it); default `dispatch`. */
  userAgent?: string;
}

/**
 * Loads the kubeconfig (and client-node with it) and returns the API of its
 * cluster. Nothing is sent yet.
 *
 * @throws KubeConfigError when there is no kubeconfig or no such context
 */
export async function connectKube(options: ConnectKubeOptions): Promise<KubeApi> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const config = new KubeConfig();
  const { env } = options;
  const defaultFile = join(env.HOME ?? homedir(), ".kube", "config");
  try {
    if (options.kubeconfig) config.loadFromFile(options.kubeconfig);
    else if (env.KUBECONFIG) config.loadFromDefault();
    else if (existsSync(defaultFile)) config.loadFromFile(defaultFile);
    else if (env.KUBERNETES_SERVICE_HOST) config.loadFromCluster();
    else {
      throw new KubeConfigError(
        "no kubeconfig found: name one with --kubeconfig FILE or $KUBECONFIG, or create ~/.kube/config (e.g. with your cluster's CLI)",
      );
    }
  } catch (err) {
    if (err instanceof KubeConfigError) throw err;
    throw new KubeConfigError(`cannot read the kubeconfig: ${(err as Error).message}`, { cause: err });
  }
  if (options.context) {
    if (!config.getContextObject(options.context)) {
      const known = config.getContexts().map((c) => c.name);
      throw new KubeConfigError(
        `the kubeconfig has no context "${options.context}" (it has: ${known.join(", ") || "none"})`,
      );
    }
    config.setCurrentContext(options.context);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) {
    throw new KubeConfigError(
      `the kubeconfig's current context "${config.getCurrentContext()}" names no cluster: pick one with --kube-context`,
    );
  }
  return createKubeApi(
    config,
    cluster.server,
    options.requestTimeoutMs ?? 30_000,
    options.userAgent ?? "dispatch",
  );
}

function createKubeApi(config: KubeConfig, server: string, timeoutMs: number, userAgent: string): KubeApi {
  const base = server.replace(/\/+$/, "");
  const context =
    config.getCurrentContext() === "inClusterContext" ? "in-cluster" : config.getCurrentContext();

  /** Sends a request; resolves with the response once its headers are in. */
  async function send(request: KubeRequest, streaming: boolean): Promise<IncomingMessage> {
    const url = new URL(base + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const body = request.body === undefined ? undefined : JSON.stringify(request.body);
    const options: RequestOptions = {
      method: request.method,
      headers: {
        Accept: "application/json",
        "User-Agent": userAgent,
        ...(body === undefined
          ? {}
          : {
              "Content-Type": request.contentType ?? "application/json",
              "Content-Length": Buffer.byteLength(body),
            }),
      },
    };
    // The kubeconfig's credentials and TLS settings (CA, client certificate, proxy) as an agent and
    // headers, asked for each request (tokens rotate); the agent is swapped for a kept-alive one.
    await config.applyToHTTPSOptions(options);
    options.agent = keptAlive(options.agent);
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return await new Promise<IncomingMessage>((resolve, reject) => {
      const req = send(url, { ...options, ...(request.signal ? { signal: request.signal } : {}) }, resolve);
      // A watch may be quiet for long; only the wait for its headers is bounded.
      req.setTimeout(timeoutMs, () => {
        req.destroy(
          new KubeConnectionError(`no answer from the API server at ${base} within ${timeoutMs / 1000}s`),
        );
      });
      req.on("error", (err) => {
        if (err instanceof KubeConnectionError || request.signal?.aborted) reject(err);
        else {
          reject(
            new KubeConnectionError(
              `cannot reach the API server at ${base} (context "${context}"): ${err.message}`,
              {
                cause: err,
              },
            ),
          );
        }
      });
      if (streaming) {
        req.on("response", (res) => res.socket.setTimeout(0));
      }
      req.end(body);
    });
  }

  /**
   * client-node makes a new agent for every request, so every request would
   * open a new TLS connection (3.6 ms against 0.4 ms on a kept one, measured by
   * bench/k8s-cold-start). A plain agent is replaced by one kept-alive agent per
   * set of TLS settings; proxy agents are left as they are.
   */
  const agents = new Map<string, HttpAgent>();
  function keptAlive(agent: RequestOptions["agent"]): RequestOptions["agent"] {
    if (!(agent instanceof HttpAgent) || (agent.constructor !== Agent && agent.constructor !== HttpAgent)) {
      return agent;
    }
    const tls = (agent as HttpAgent & { options: Record<string, unknown> }).options;
    const key = JSON.stringify([
      agent.constructor === Agent ? "https" : "http",
      ...["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"].map((name) =>
        Buffer.isBuffer(tls[name]) ? (tls[name] as Buffer).toString("base64") : (tls[name] ?? null),
      ),
    ]);
    let kept = agents.get(key);
    if (!kept) {
      const Kind = agent.constructor as typeof HttpAgent;
      kept = new Kind({ ...tls, keepAlive: true });
      agents.set(key, kept);
    }
    return kept;
  }

  async function readBody(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  }

  return {
    server: base,
    context,
    async request<T>(request: KubeRequest): Promise<T> {
      const res = await send(request, false);
      const text = await readBody(res);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) return (text === "" ? {} : JSON.parse(text)) as T;
      throw statusError(status, text, request);
    },
    async *watch(path, query, signal) {
      const res = await send({ method: "GET", path, query: { ...query, watch: true }, signal }, true);
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        // A watch refused outright (410 for a too-old resourceVersion) is an event like one sent in the stream.
        const text = await readBody(res);
        yield { type: "ERROR", object: parseStatus(text, status) };
        return;
      }
      const lines = createInterface({ input: res, crlfDelay: Number.POSITIVE_INFINITY });
      // A destroyed response does not end readline's iteration by itself: close it too.
      const stop = () => {
        lines.close();
        res.destroy();
      };
      signal.addEventListener("abort", stop, { once: true });
      if (signal.aborted) stop();
      try {
        for await (const line of lines) {
          if (line.trim() === "") continue;
          yield JSON.parse(line) as WatchEvent;
        }
      } catch (err) {
        if (!signal.aborted)
          throw new KubeConnectionError(`the watch of ${path} broke: ${(err as Error).message}`);
      } finally {
        signal.removeEventListener("abort", stop);
        res.destroy();
      }
    },
  };
}

/** The API's `Status` from an error body, or one made from the HTTP status. */
function parseStatus(text: string, status: number): Record<string, unknown> {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    if (parsed && typeof parsed === "object" && parsed.kind === "Status") return parsed;
  } catch {
    // Not JSON: a proxy's page, say.
  }
  return { kind: "Status", code: status, reason: "", message: text.slice(0, 500) || `HTTP ${status}` };
}

function statusError(status: number, text: string, request: KubeRequest): KubeApiError {
  const parsed = parseStatus(text, status);
  const message =
    typeof parsed.message === "string" && parsed.message !== "" ? parsed.message : `HTTP ${status}`;
  return new KubeApiError(
    status,
    typeof parsed.reason === "string" ? parsed.reason : "",
    `${request.method} ${request.path}: ${message}`,
    parsed.details,
  );
}
