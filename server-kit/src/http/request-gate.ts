import { Code, ConnectError, type ContextKey, type HandlerContext } from "@connectrpc/connect";

/** Options for {@link createRequestGate}. */
export interface RequestGateOptions<P> {
  /** The principal a bearer token stands for, or undefined when the token is not valid. */
  authenticate(token: string): P | undefined;
  /** Where the gate leaves the principal for interceptors and handlers. */
  key: ContextKey<P | undefined>;
  /**
   * Added to Unauthenticated errors: where a user finds a valid token. Every
   * caller sees it, so it must name no file path and no secret.
   */
  hint?: string;
}

/**
 * The token of an `Authorization: Bearer <token>` header value, or undefined
 * when the value is not one.
 */
export function bearerToken(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return match?.[1] || undefined;
}

/**
 * A Connect `requestGate` (see `connectNodeAdapter`): every RPC must carry a
 * bearer token that `authenticate` accepts, before its body is read; the
 * principal it stands for is set under `key`. A call without a token, or with
 * one that is not valid, ends Unauthenticated with a message that says which.
 *
 * @example
 * connectNodeAdapter({ routes, requestGate: createRequestGate({ authenticate, key: principalKey }) });
 */
export function createRequestGate<P>(options: RequestGateOptions<P>): (ctx: HandlerContext) => void {
  const hint = options.hint ? ` ${options.hint}` : "";
  return (ctx) => {
    const token = bearerToken(ctx.requestHeader.get("authorization"));
    if (token === undefined) {
      throw new ConnectError(
        `this call needs a token: send the header "Authorization: Bearer <token>".${hint}`,
        Code.Unauthenticated,
      );
    }
    const principal = options.authenticate(token);
    if (principal === undefined) {
      throw new ConnectError(
        `the token is not valid (unknown, revoked, or its org was deleted).${hint}`,
        Code.Unauthenticated,
      );
    }
    ctx.values.set(options.key, principal);
  };
}
