import type { IncomingHttpHeaders } from "node:http";
import { Code, ConnectError } from "@connectrpc/connect";
import { ingestSecretName } from "@dispatch/proto";
import { bearerToken } from "@dispatch/server-kit";
import type { Caller, Callers } from "../api/callers.js";
import type { IngestTokens } from "../api/ingest-tokens.js";
import type { EventStore } from "../store/event-store.js";
import { brokerFor, withinLimits } from "./accept.js";
import { eventsFromHttp, IngressError } from "./http-events.js";

/** What the ingress needs of a request: an HTTP/1.1 or HTTP/2 one, as Node or connect-node passes it. */
interface Request {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  once(event: "end" | "error", listener: (arg?: unknown) => void): unknown;
  removeAllListeners(event: "data"): unknown;
  resume(): unknown;
  method?: string | undefined;
  url?: string | undefined;
  headers: IncomingHttpHeaders;
}

/** What the ingress needs of a response (HTTP/1.1 or HTTP/2). */
interface Response {
  readonly headersSent: boolean;
  writeHead(status: number, headers: Record<string, string | number>): unknown;
  end(body: string): unknown;
}

/** Options of {@link createHttpIngress}. */
export interface HttpIngressOptions {
  store: EventStore;
  callers: Callers;
  /** Ingest tokens: what else than a Dispatch token may send to a broker. */
  ingestTokens: IngestTokens;
  maxEventBytes: number;
}

/** The most one batch request may carry, in bytes. */
export const maxBatchBytes = 16 * 1024 * 1024;

/** HTTP status of each Connect code the ingress can meet. */
const statusOf: Partial<Record<Code, number>> = {
  [Code.InvalidArgument]: 400,
  [Code.Unauthenticated]: 401,
  [Code.PermissionDenied]: 403,
  [Code.NotFound]: 404,
  [Code.ResourceExhausted]: 413,
  [Code.Unavailable]: 503,
};

/**
 * CloudEvents over HTTP: `POST /<org>/<broker>` (or `POST /`: the caller's
 * org, its default broker) in binary, structured or batched mode. Answers
 * 202 only once JetStream has stored every event of the request (a re-sent
 * event is stored once and answered 202 again); 4xx with a JSON
 * `{"error": {"code", "message"}}` that says what was wrong, and then
 * nothing is stored. Returns false for requests that are not its own.
 */
export function createHttpIngress(options: HttpIngressOptions): (req: Request, res: Response) => boolean {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const match = /^\/(?:([a-z0-9][-a-z0-9]*)(?:\/([a-z0-9][-a-z0-9]*))?)?\/?$/.exec(path);
    if (!match) return false;
    if (req.method !== "POST") {
      answer(
        res,
        405,
        { error: { code: "method_not_allowed", message: "send events with POST" } },
        { allow: "POST" },
      );
      return true;
    }
    void ingest(req, res, match[1] ?? "", match[2] ?? "");
    return true;
  };

  /**
   * A Dispatch token (checked with the control plane), else an ingest token
   * of the broker the path names: the values of the org's Secret
   * `events-ingest-<broker>`, good for sending to that broker only.
   */
  async function authenticate(token: string | undefined, org: string, broker: string): Promise<Caller> {
    try {
      return await options.callers.authenticate(token);
    } catch (err) {
      const refused = ConnectError.from(err);
      if (refused.code !== Code.Unauthenticated || token === undefined || org === "") throw err;
      // Only a broker that exists has ingest tokens: a made-up name costs no lookup.
      const name = brokerFor(org, broker);
      const caller = await options.ingestTokens.caller(org, name, token);
      if (caller) return caller;
      throw new ConnectError(
        `the token is neither a Dispatch token nor an ingest token of broker "${name}" in org "${org}" (a value of its Secret ${ingestSecretName(name)})`,
        Code.Unauthenticated,
      );
    }
  }

  async function ingest(req: Request, res: Response, org: string, broker: string) {
    try {
      const token = bearerToken(header(req, "authorization"));
      const caller = await authenticate(token, org, broker);
      const target = await options.callers.orgFor(caller, org);
      const at = brokerFor(target, broker);
      const body = await readBody(req, limitFor(header(req, "content-type") ?? "", options.maxEventBytes));
      // Checked and normalized as they are read (eventsFromHttp); here the limits.
      const events = withinLimits(eventsFromHttp(req.headers, body), options.maxEventBytes);
      if (events.length === 0) throw new IngressError(400, "the batch holds no events");
      const results = await options.store.publish(target, at, events);
      const duplicates = results.filter((r) => r.duplicate).length;
      answer(res, 202, { accepted: results.length, duplicates });
    } catch (err) {
      if (err instanceof IngressError) {
        answer(res, err.status, { error: { code: codeName(err.status), message: err.message } });
      } else if (err instanceof ConnectError) {
        const status = statusOf[err.code] ?? 500;
        answer(res, status, { error: { code: codeName(status), message: err.rawMessage } });
      } else {
        // Not stored (or not known to be): the sender tries again; dedup keeps it single.
        answer(res, 503, {
          error: {
            code: "unavailable",
            message: `the events could not be stored: ${(err as Error).message}`,
          },
        });
      }
    }
  }
}

function limitFor(contentType: string, maxEventBytes: number): number {
  return contentType.toLowerCase().startsWith("application/cloudevents-batch")
    ? maxBatchBytes
    : // A structured event's attributes and JSON around the data.
      maxEventBytes + 64 * 1024;
}

function header(req: Request, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function codeName(status: number): string {
  return (
    {
      400: "invalid_argument",
      401: "unauthenticated",
      403: "permission_denied",
      404: "not_found",
      413: "too_large",
      415: "unsupported_media_type",
      503: "unavailable",
    }[status] ?? "internal"
  );
}

/** The request body, or a 413 as soon as it passes `limit` bytes. */
function readBody(req: Request, limit: number): Promise<Buffer> {
  const declared = Number(header(req, "content-length") ?? "NaN");
  if (declared > limit) {
    return Promise.reject(new IngressError(413, `the request is ${declared} bytes; the limit is ${limit}`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new IngressError(413, `the request is larger than the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
    req.once("error", reject);
  });
}

function answer(res: Response, status: number, body: unknown, extra: Record<string, string> = {}) {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...extra,
  });
  res.end(text);
}
