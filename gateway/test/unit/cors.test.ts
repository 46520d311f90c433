import { create } from "@bufbuild/protobuf";
import { CorsPolicySchema, FractionalPercent_DenominatorType } from "@dispatch/proto/envoy";
import test from "ava";
import { compileCorsPolicy, decideCors } from "../../src/filters/cors.js";
import { request } from "../support/envoy.js";

const policy = (init: Parameters<typeof create<typeof CorsPolicySchema>>[1]) =>
  compileCorsPolicy(create(CorsPolicySchema, init), 100);
const site = policy({
  allowOriginStringMatch: [{ matchPattern: { case: "exact", value: "https://app.test" } }],
  allowMethods: "GET,POST",
  allowHeaders: "content-type,authorization",
  exposeHeaders: "x-run-id",
  maxAge: "600",
  allowCredentials: true,
});
const preflight = (origin: string, extra: Record<string, string> = {}) =>
  request("OPTIONS", "http://api.test/items", { origin, "access-control-request-method": "POST", ...extra });

test("CORS: a preflight from an allowed origin is answered with the policy, echoing the origin", (t) => {
  t.deepEqual(decideCors([site], preflight("https://app.test"), 0), {
    kind: "preflight",
    headers: [
      ["access-control-allow-origin", "https://app.test"],
      ["access-control-allow-credentials", "true"],
      ["access-control-allow-methods", "GET,POST"],
      ["access-control-allow-headers", "content-type,authorization"],
      ["access-control-max-age", "600"],
    ],
  });
});

test("CORS: a preflight from another origin is forwarded (or answered bare when forward_not_matching_preflights is false)", (t) => {
  t.deepEqual(decideCors([site], preflight("https://evil.test"), 0), { kind: "actual", responseHeaders: [] });
  const strict = policy({
    allowOriginStringMatch: [{ matchPattern: { case: "exact", value: "https://app.test" } }],
    forwardNotMatchingPreflights: false,
  });
  t.deepEqual(decideCors([strict], preflight("https://evil.test"), 0), { kind: "preflight", headers: [] });
});

test("CORS: an actual request from an allowed origin gets allow-origin, credentials and expose headers", (t) => {
  t.deepEqual(
    decideCors([site], request("POST", "http://api.test/items", { origin: "https://app.test" }), 0),
    {
      kind: "actual",
      responseHeaders: [
        ["access-control-allow-origin", "https://app.test"],
        ["access-control-allow-credentials", "true"],
        ["access-control-expose-headers", "x-run-id"],
      ],
    },
  );
  t.deepEqual(
    decideCors([site], request("POST", "http://api.test/items"), 0),
    { kind: "none" },
    "no Origin: not CORS",
  );
});

test("CORS: '*' methods and headers echo the request's; attributes fall through to less specific policies", (t) => {
  const route = policy({ allowMethods: "*", allowHeaders: "*" });
  const vhost = policy({
    allowOriginStringMatch: [{ matchPattern: { case: "safeRegex", value: { regex: "https://.*\\.test" } } }],
    maxAge: "60",
  });
  const decision = decideCors(
    [route, vhost],
    preflight("https://x.test", { "access-control-request-headers": "x-a,x-b" }),
    0,
  );
  t.deepEqual(decision, {
    kind: "preflight",
    headers: [
      ["access-control-allow-origin", "https://x.test"],
      ["access-control-allow-methods", "POST"],
      ["access-control-allow-headers", "x-a,x-b"],
      ["access-control-max-age", "60"],
    ],
  });
});

test("CORS: filter_enabled decides for the share of requests it names", (t) => {
  const half = policy({
    allowOriginStringMatch: [{ matchPattern: { case: "exact", value: "https://app.test" } }],
    filterEnabled: {
      defaultValue: { numerator: 50, denominator: FractionalPercent_DenominatorType.HUNDRED },
      runtimeKey: "k",
    },
  });
  t.is(decideCors([half], preflight("https://app.test"), 0.2).kind, "preflight");
  t.is(decideCors([half], preflight("https://app.test"), 0.7).kind, "none");
});
