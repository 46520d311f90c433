import { Code, ConnectError } from "@connectrpc/connect";
import { RequestTimeoutError } from "@dispatch/client";
import { CommandError, UsageError } from "../errors.js";

/** What to print for a failed command, and the exit status. */
export interface Failure {
  /** Printed as `error: <message>`. */
  message: string;
  /** Printed one per line under the message. */
  lines: string[];
  /** 1 for failures, 2 for usage errors. */
  exitCode: 1 | 2;
}

/** What the error description may mention about the connection. */
export interface FailureContext {
  server: string;
  /** Whether a token was configured at all. */
  hasToken: boolean;
  /**
   * Where the token came from, in words (`the --token flag`, `context "local" in
   * ~/.dispatch/config.json`): an Unauthenticated error names it.
   */
  tokenSource?: string;
}

/** Node's codes for "nobody answered at that address". */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ECONNRESET",
]);

/**
 * Turns any error a command threw into plain words and an exit status.
 *
 * - {@link UsageError}: its message, status 2.
 * - A ConnectError: the server's message without the `[code]` prefix; a multi-line
 *   message (validation lists every violation on its own line) becomes lines.
 * - A connection that was refused: how to start Dispatch.
 * - A request that got no answer in time: what to check.
 * - A refused token: where it came from and how to use another.
 */
export function describeFailure(err: unknown, context: FailureContext): Failure {
  if (err instanceof UsageError) return split(err.message, 2);
  if (err instanceof CommandError) return { message: err.message, lines: [...err.lines], exitCode: 1 };
  if (err instanceof RequestTimeoutError) {
    return {
      message: `no answer from Dispatch at ${context.server} within ${formatSeconds(err.timeoutMs)} (${err.call})`,
      lines: [
        'is it running and healthy? Check "dispatch status" and the log of "dispatch up" (or of the control plane)',
        "is --server (or DISPATCH_SERVER, or the context) the Dispatch API, not another service on that port?",
        "if the call needs longer, raise --request-timeout (env DISPATCH_REQUEST_TIMEOUT), e.g. --request-timeout 2m",
      ],
      exitCode: 1,
    };
  }
  if (err instanceof ConnectError) {
    const network = networkCode(err);
    if (network) {
      return {
        message: `cannot reach Dispatch at ${context.server}: is it running? Start it with "dispatch up"`,
        lines: [`(${network})`],
        exitCode: 1,
      };
    }
    const failure = split(err.rawMessage || Code[err.code] || "request failed", 1);
    if (err.code === Code.Unauthenticated && !context.hasToken) {
      failure.lines.push(
        "no token is configured: pass --token, set DISPATCH_TOKEN, or save one with " +
          '"dispatch context set NAME --server URL --token TOKEN"',
      );
    } else if (err.code === Code.Unauthenticated) {
      failure.lines.push(
        `the token came from ${context.tokenSource ?? "the CLI settings"}`,
        "use a valid one: --token, DISPATCH_TOKEN, or a context (" +
          '"dispatch context set NAME --server URL --token TOKEN"); an admin issues tokens with ' +
          '"dispatch create token NAME --org ORG"',
      );
      // The server of "dispatch up" says this itself.
      if (!failure.message.includes('"dispatch up"')) {
        failure.lines.push('"dispatch up" saves its admin token as context "local" each time it starts');
      }
    }
    if (err.code === Code.Unimplemented) {
      failure.lines.push(
        `is ${context.server} a Dispatch of the same version as this CLI? (see "dispatch version")`,
      );
    }
    return failure;
  }
  if (err instanceof Error) return split(err.message, 1);
  return split(String(err), 1);
}

function formatSeconds(ms: number): string {
  return ms % 60_000 === 0 && ms >= 60_000 ? `${ms / 60_000}m` : `${ms / 1000}s`;
}

function split(message: string, exitCode: 1 | 2): Failure {
  const [first = "", ...rest] = message.split("\n");
  return { message: first, lines: rest.filter((l) => l.trim() !== ""), exitCode };
}

/** The errno code of a connection failure anywhere in the cause chain, if any. */
export function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && UNREACHABLE.has(code)) return code;
    // Node wraps "connect ECONNREFUSED" in AggregateError when several addresses fail.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors)) {
      const found = errors.map(networkCode).find((c) => c !== undefined);
      if (found) return found;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Formats a failure for stderr: `error: …` then the detail lines. */
export function formatFailure(failure: Failure): string {
  const lines = failure.lines.map((l) => `  ${l.replace(/^\s+/, "")}\n`).join("");
  return `error: ${failure.message}\n${lines}`;
}
