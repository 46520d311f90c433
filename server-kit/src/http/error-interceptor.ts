import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

// This module knows nothing of the control plane: a server passes the table
// of its own error classes. It is meant to move to a shared server package.

/** A class of errors, matched with `instanceof`. */
// biome-ignore lint/suspicious/noExplicitAny: constructor parameters of any error class
export type ErrorClass = abstract new (...args: any[]) => Error;

/** How a server's errors reach its clients. */
export interface ErrorMapping {
  /**
   * Error classes whose message is written for clients, each with its code;
   * matched with `instanceof`, in order (put subclasses first).
   */
  codes: readonly (readonly [ErrorClass, Code])[];
  /**
   * Errors that are not one class of ours (e.g. a client library's timeout):
   * the ConnectError a client sees, or undefined to treat the error as unexpected.
   */
  translate?: (err: unknown) => ConnectError | undefined;
  /** Where unexpected errors are reported; the client sees only a generic message. */
  log: (message: string, error: unknown) => void;
  /** What a client reads for an unexpected error; default "internal error (the server log has the details)". */
  internalMessage?: string;
}

/**
 * The ConnectError a client sees for `err`: a ConnectError as it is; a mapped
 * error class with its own message and code; anything else is Internal with a
 * generic message, and is logged. The original error is kept in `cause`,
 * which never leaves the server.
 */
export function toConnectError(err: unknown, mapping: ErrorMapping): ConnectError {
  if (err instanceof ConnectError) return err;
  for (const [type, code] of mapping.codes) {
    if (err instanceof type) return new ConnectError(err.message, code, undefined, undefined, err);
  }
  const translated = mapping.translate?.(err);
  if (translated) return translated;
  mapping.log("internal error", err);
  return new ConnectError(
    mapping.internalMessage ?? "internal error (the server log has the details)",
    Code.Internal,
    undefined,
    undefined,
    err,
  );
}

/**
 * The one place where handler errors become Connect codes: every unary and
 * streaming handler of a router that has it (pass it last in the adapter's
 * `interceptors`, so it is the closest to the handlers). A streaming call
 * that ends because the client left or the server is shutting down (its
 * signal is aborted) ends quietly, whatever the handler threw on the way out.
 *
 * @example
 * connectNodeAdapter({ routes, interceptors: [createErrorInterceptor({ codes: [[NotFoundError, Code.NotFound]], log })] });
 */
export function createErrorInterceptor(mapping: ErrorMapping): Interceptor {
  return (next) => async (req) => {
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      throw toConnectError(err, mapping);
    }
    if (!res.stream) return res;
    return { ...res, message: mapStreamErrors(res.message, req.signal, mapping) };
  };
}

async function* mapStreamErrors<T>(
  messages: AsyncIterable<T>,
  signal: AbortSignal,
  mapping: ErrorMapping,
): AsyncIterable<T> {
  try {
    yield* messages;
  } catch (err) {
    if (signal.aborted) return;
    throw toConnectError(err, mapping);
  }
}
