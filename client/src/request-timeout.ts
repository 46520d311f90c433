import { Code, ConnectError, type Transport } from "@connectrpc/connect";

/**
 * A call got no (complete) answer within its deadline; `timeoutMs` says how
 * long the client waited. (Not a ConnectError subclass: ConnectError's
 * `instanceof` matches every ConnectError for subclasses too.)
 */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";

  constructor(
    readonly call: string,
    readonly timeoutMs: number,
    cause: unknown,
  ) {
    super(`no answer to ${call} within ${timeoutMs / 1000}s`, { cause });
  }
}

/**
 * Gives every call a deadline (`defaultMs`, unless the call names its own
 * `timeoutMs`; 0 is none) and turns a missed one into a
 * {@link RequestTimeoutError} that says which call and how long. (An
 * interceptor cannot: Connect replaces what it throws with the abort reason.)
 */
export function withDeadlines(transport: Transport, defaultMs: number): Transport {
  const effective = (timeoutMs: number | undefined) => (timeoutMs === undefined ? defaultMs : timeoutMs);
  const translate = (err: unknown, call: string, ms: number) =>
    err instanceof ConnectError && err.code === Code.DeadlineExceeded && ms > 0
      ? new RequestTimeoutError(call, ms, err)
      : err;
  const callName = (method: { parent: { typeName: string }; name: string }) =>
    `${method.parent.typeName}.${method.name}`;
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const ms = effective(timeoutMs);
      try {
        return await transport.unary(method, signal, ms, header, input, contextValues);
      } catch (err) {
        throw translate(err, callName(method), ms);
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const ms = effective(timeoutMs);
      const call = callName(method);
      const response = await transport
        .stream(method, signal, ms, header, input, contextValues)
        .catch((err: unknown) => {
          throw translate(err, call, ms);
        });
      // A stream can also run out of time between messages.
      const messages = response.message;
      return {
        ...response,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw translate(err, call, ms);
          }
        })(),
      };
    },
  };
}
