import { Code, ConnectError, createContextKey, createHandlerContext } from "@connectrpc/connect";
import { SystemService } from "@dispatch/proto";
import test from "ava";
import { bearerToken, createRequestGate } from "./request-gate.js";

const key = createContextKey<string | undefined>(undefined);

function context(authorization?: string) {
  const method = SystemService.method.getVersion;
  return createHandlerContext({
    service: SystemService,
    method,
    protocolName: "connect",
    requestMethod: "POST",
    url: "http://localhost/",
    requestHeader: authorization ? { authorization } : {},
  });
}

test("request gate: a valid bearer token leaves its principal in the context", (t) => {
  const gate = createRequestGate({ authenticate: (token) => (token === "good" ? "alice" : undefined), key });
  const ctx = context("Bearer good");
  gate(ctx);
  t.is(ctx.values.get(key), "alice");
  t.is(bearerToken("bearer  good"), "good");
  t.is(bearerToken("Basic Zm9v"), undefined);
});

test("request gate: no token and a bad token are Unauthenticated, each saying which, with the hint", (t) => {
  const gate = createRequestGate({ authenticate: () => undefined, key, hint: "Ask your admin." });
  const missing = t.throws(() => gate(context()), { instanceOf: ConnectError });
  t.is(missing?.code, Code.Unauthenticated);
  t.is(
    missing?.rawMessage,
    'this call needs a token: send the header "Authorization: Bearer <token>". Ask your admin.',
  );
  const bad = t.throws(() => gate(context("Bearer nope")), { instanceOf: ConnectError });
  t.is(bad?.rawMessage, "the token is not valid (unknown, revoked, or its org was deleted). Ask your admin.");
});
