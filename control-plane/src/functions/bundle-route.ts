import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import { bearerToken } from "@dispatch/server-kit";
import type { SourceStore } from "../store/source-store.js";
import type { InstanceCredentialAuthority } from "./instance-credentials.js";

/** The path bundles are served under (`BUNDLES_PATH` of `@dispatch/runtimes/bundle`). */
const prefix = "/bundles/";
const digestPattern = /^sha256:[0-9a-f]{64}$/;

/** What the route needs of a request: an HTTP/1.1 or HTTP/2 (h2c) one, as the control plane's port passes it. */
interface Request {
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
}

/** What the route needs of a response (HTTP/1.1 or HTTP/2). */
interface Response {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  setHeader(name: string, value: string): unknown;
  writeHead(status: number, headers: Record<string, string>): unknown;
  write(chunk: Uint8Array): boolean;
  end(): unknown;
  end(body: string): unknown;
  destroy(): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
}

/** What {@link createBundleRoute} serves from. */
export interface BundleRouteOptions {
  sources: SourceStore;
  credentials: InstanceCredentialAuthority;
  /** The uid of the function `org/name` as the control plane knows it now, if it exists. */
  functionUid(org: string, name: string): string | undefined;
  /** Why nothing can be served now (NATS is away), if so. */
  unavailable(): Error | undefined;
  log(message: string, error: unknown): void;
}

/**
 * `GET /bundles/<digest>` on the control plane's port: a function's bundle
 * for an instance that runs elsewhere (a pod fetches it before its worker
 * starts: `fetchBundle` of `@dispatch/runtimes/bundle`). Only to a caller with
 * an instance credential this control plane issued (`Authorization: Bearer`)
 * for a revision with that digest, of a function that still exists: no user
 * token, of any org or role, gets a bundle here. Returns false for requests
 * that are not for this route.
 */
export function createBundleRoute(options: BundleRouteOptions): (req: Request, res: Response) => boolean {
  return (req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    if (!path.startsWith(prefix)) return false;
    void serve(options, req, res, path.slice(prefix.length)).catch((err: unknown) => {
      options.log("serving a bundle", err);
      if (!res.headersSent) refuse(res, 500, "the bundle could not be read; try again");
      else res.destroy();
    });
    return true;
  };
}

async function serve(options: BundleRouteOptions, req: Request, res: Response, asked: string): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return refuse(res, 405, "use GET");
  }
  // "sha256:" may come percent-encoded ("sha256%3A...").
  const digest = asked.replace(/^sha256%3a/i, "sha256:");
  if (!digestPattern.test(digest)) {
    return refuse(
      res,
      400,
      `"${digest.slice(0, 80)}" is not a bundle digest: use /bundles/sha256:<64 hex digits>`,
    );
  }
  const token = bearerToken(req.headers.authorization);
  const claims = token === undefined ? undefined : options.credentials.verify(token);
  if (!claims) {
    res.setHeader("www-authenticate", 'Bearer realm="dispatch-bundles"');
    return refuse(
      res,
      401,
      "a bundle is served only to an instance of its function: send the instance's credential (DISPATCH_WORKER_TOKEN) as Authorization: Bearer <credential>",
    );
  }
  if (claims.digest !== digest) {
    return refuse(res, 403, "this credential was issued for an instance of another bundle");
  }
  if (options.functionUid(claims.org, claims.function) !== claims.uid) {
    return refuse(
      res,
      403,
      `function "${claims.function}" of org "${claims.org}", which this credential was issued for, no longer exists`,
    );
  }
  const down = options.unavailable();
  if (down) return refuse(res, 503, down.message);
  const data = await options.sources.open(digest);
  if (!data) return refuse(res, 404, `no bundle ${digest} is stored`);
  res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" });
  if (req.method === "HEAD") {
    data.destroy();
    res.end();
    return;
  }
  await send(data, res);
}

/** Streams the bundle with backpressure; a client that leaves stops the reading. */
async function send(data: Readable, res: Response): Promise<void> {
  try {
    for await (const chunk of data) {
      if (res.destroyed) break;
      if (!res.write(chunk as Uint8Array)) await writable(res);
    }
  } catch (err) {
    // The store failed mid-bundle: the client sees a broken answer, never a short one that looks whole.
    res.destroy();
    throw err;
  } finally {
    data.destroy();
  }
  if (!res.destroyed) res.end();
}

/** Resolves once the response drained or closed. */
function writable(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.once("drain", done);
    res.once("close", done);
  });
}

/** A JSON refusal, as the activator's: `{"error": {"type", "message"}}`. */
function refuse(res: Response, status: number, message: string): void {
  const type = status >= 500 ? "SystemError" : "InputError";
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { type, message } }));
}
