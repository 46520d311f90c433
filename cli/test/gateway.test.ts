import { readFile, writeFile } from "node:fs/promises";
import { Agent, request as httpsRequest } from "node:https";
import { join } from "node:path";
import { createDispatchClients, createDispatchTransport } from "@dispatch/client";
import test from "ava";
import { type IngressHarness, startIngressHarness } from "./ingress-harness.js";

// Endpoints as a user reaches them: `dispatch up` (in this process, with a
// nats-server of the test's own), the CLI as a separate process, and plain
// HTTP(S) through the embedded gateway to real workers. Dispatch v1's API
// scenarios (inventory §4, 25-29) run here.

interface Ctx extends IngressHarness {
  gatewayTls: string;
  ca: Buffer;
}

let ctx: Ctx;

test.before(async () => {
  const h = await startIngressHarness("gateway");
  const gatewayTls = h.up.ingress.urls.gatewayTls;
  if (!gatewayTls) {
    await h.stop();
    throw new Error("the gateway has no HTTPS listener");
  }
  ctx = { ...h, gatewayTls, ca: await readFile(join(h.dir, "data", "gateway-tls", "cert.pem")) };
});

test.after.always(async () => {
  await ctx?.stop();
});

const ok = (...args: string[]) => ctx.ok(...args);
const fn = (name: string, code: string, ...flags: string[]) => ctx.fn(name, code, ...flags);

const echo =
  "export default async (context, payload) => ({ payload, method: context.http?.method, path: context.http?.path, headers: context.http?.headers });\n";
const hello =
  'export default async (context, payload) => { const { name = "Noone", place = "Nowhere" } = payload ?? {}; return { myField: "Hello, " + name + " from " + place }; };\n';

interface Answer {
  status: number;
  headers: Headers | Record<string, string | string[] | undefined>;
  text: string;
  json(): unknown;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** HTTPS with the gateway's self-signed certificate trusted. */
function callTls(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `${ctx.gatewayTls}${path}`,
      {
        method: options.method ?? "GET",
        headers: options.headers ?? {},
        agent: new Agent({ ca: ctx.ca, servername: "localhost" }),
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) }),
        );
      },
    );
    req.once("error", reject);
    req.end(options.body);
  });
}

async function endpointStatus(name: string): Promise<{
  phase: string;
  reason?: string[];
  urls?: string[];
  conditions: { type: string; status: string; reason: string; message: string }[];
}> {
  return JSON.parse(await ok("get", "endpoint", name, "-o", "json")).status;
}

test("v1 #25: a public POST endpoint answers over HTTP and HTTPS, and each call is a Run", async (t) => {
  await fn("v1-hello", hello);
  await ok("create", "api", "v1-http", "v1-hello", "--method", "POST", "--path", "/http", "--wait");
  const body = JSON.stringify({ name: "Jon", place: "Winterfell" });
  const plain = await call(`${ctx.gateway}/http`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  t.is(plain.status, 200, plain.text);
  t.deepEqual(plain.json(), { myField: "Hello, Jon from Winterfell" });
  const secure = await callTls("/http", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  t.is(secure.status, 200, secure.text);
  t.deepEqual(secure.json(), { myField: "Hello, Jon from Winterfell" });
  const runs = JSON.parse(await ok("get", "runs", "v1-hello", "-o", "json"));
  const items = (runs.items ?? runs) as { status: { phase: string } }[];
  t.is(items.length, 2, "one Run per call through the gateway");
});

test("v1 #26: --https-only refuses plain HTTP with a JSON error and serves HTTPS", async (t) => {
  await fn("v1-secure", hello);
  await ok("create", "api", "v1-secure", "v1-secure", "--path", "/secure", "--https-only", "--wait");
  const plain = await call(`${ctx.gateway}/secure`);
  t.is(plain.status, 403);
  t.regex((plain.json() as { error: { message: string } }).error.message, /HTTPS only.*https:\/\//);
  const secure = await callTls("/secure");
  t.is(secure.status, 200, secure.text);
  t.deepEqual(secure.json(), { myField: "Hello, Noone from Nowhere" });
});

test("v1 #27: methods, bodies, query strings and forged headers through the gateway", async (t) => {
  await fn("v1-echo", echo);
  await ok(
    "create",
    "api",
    "v1-methods",
    "v1-echo",
    "--path",
    "/hello",
    ...["GET", "DELETE", "POST", "PUT"].flatMap((m) => ["--method", m]),
    "--wait",
  );
  const url = `${ctx.gateway}/hello`;
  // A forged org header changes nothing: the route says which function it is.
  const forged = await call(url, {
    method: "POST",
    headers: { "content-type": "application/json", "dispatch-org": "other", "dispatch-function": "nope" },
    body: JSON.stringify({ name: "Jon" }),
  });
  t.is(forged.status, 200, forged.text);
  const forgedBody = forged.json() as { payload: unknown; headers: Record<string, string> };
  t.deepEqual(forgedBody.payload, { name: "Jon" });
  t.is(forgedBody.headers["dispatch-org"], undefined, "routing headers never reach the function");
  t.is(
    forgedBody.headers["dispatch-token"],
    undefined,
    "the gateway's credential never reaches the function",
  );

  const put = await call(url, { method: "PUT" });
  t.is(put.status, 200, put.text);
  t.deepEqual((put.json() as { payload: unknown; method: string }).payload, {});
  t.is((put.json() as { method: string }).method, "PUT");

  const notJson = await call(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "not json",
  });
  t.is(notJson.status, 400);
  t.regex((notJson.json() as { error: { message: string } }).error.message, /not valid JSON/);

  const form = await call(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "name=Arya&place=Braavos",
  });
  t.deepEqual((form.json() as { payload: unknown }).payload, { name: "Arya", place: "Braavos" });

  const unsupported = await call(url, {
    method: "POST",
    headers: { "content-type": "unsupported-content-type" },
    body: "x",
  });
  t.is(unsupported.status, 415);
  t.regex(
    (unsupported.json() as { error: { message: string } }).error.message,
    /request body type is not supported: unsupported-content-type/,
  );

  const query = await call(`${url}?name=Sansa&tag=a&tag=b`);
  t.deepEqual((query.json() as { payload: unknown }).payload, { name: "Sansa", tag: ["a", "b"] });
  const none = await call(url, { method: "DELETE" });
  t.deepEqual((none.json() as { payload: unknown; method: string }).payload, {});
  t.is((none.json() as { method: string }).method, "DELETE");

  const patch = await call(url, { method: "PATCH" });
  t.is(patch.status, 404, "a method the endpoint does not take is not routed");
  t.truthy((patch.json() as { error: { message: string } }).error.message);
});

test("v1 #28: --cors answers preflights and adds Access-Control-Allow-Origin", async (t) => {
  await fn("v1-cors", hello);
  await ok(
    "create",
    "api",
    "v1-cors",
    "v1-cors",
    "--path",
    "/cors",
    "--method",
    "POST",
    "--method",
    "PUT",
    "--cors",
    "--wait",
  );
  const preflight = await call(`${ctx.gateway}/cors`, {
    method: "OPTIONS",
    headers: { origin: "https://app.example", "access-control-request-method": "PUT" },
  });
  t.true(preflight.status < 300, `${preflight.status} ${preflight.text}`);
  t.is((preflight.headers as Headers).get("access-control-allow-origin"), "https://app.example");
  const put = await call(`${ctx.gateway}/cors`, {
    method: "PUT",
    headers: { origin: "https://app.example", "content-type": "application/json" },
    body: "{}",
  });
  t.is(put.status, 200, put.text);
  t.is((put.headers as Headers).get("access-control-allow-origin"), "https://app.example");
});

test("v1 #29: updating an endpoint (https only, a new path) moves it; the old path is gone", async (t) => {
  await fn("v1-update", hello);
  await ok("create", "api", "v1-update", "v1-update", "--path", "/hi", "--wait");
  t.is((await call(`${ctx.gateway}/hi`)).status, 200);
  await ok("update", "endpoint", "v1-update", "--path", "/goodbye", "--https-only", "--wait");
  const secure = await callTls("/goodbye");
  t.is(secure.status, 200, secure.text);
  t.deepEqual(secure.json(), { myField: "Hello, Noone from Nowhere" });
  t.is((await call(`${ctx.gateway}/goodbye`)).status, 403);
  const old = await call(`${ctx.gateway}/hi`);
  t.is(old.status, 404);
});

test("status: READY says which proxy applied it; a missing function is an ERROR served as a JSON 503 until it exists", async (t) => {
  await ok("create", "endpoint", "later", "not-yet", "--path", "/later");
  let status = await endpointStatus("later");
  while (status.phase !== "PHASE_ERROR") status = await endpointStatus("later");
  t.regex(status.reason?.join(" ") ?? "", /function "not-yet" does not exist/);
  const missing = await call(`${ctx.gateway}/later`);
  t.is(missing.status, 503);
  t.regex((missing.json() as { error: { message: string } }).error.message, /does not exist/);

  await fn("not-yet", hello);
  while (status.phase !== "PHASE_READY") status = await endpointStatus("later");
  const programmed = status.conditions.find((c) => c.type === "Programmed");
  t.is(programmed?.status, "CONDITION_STATUS_TRUE");
  t.regex(programmed?.message ?? "", /dispatch-up-gateway/);
  t.deepEqual(
    status.urls,
    [`${ctx.gateway}/later`, `${ctx.gatewayTls}/later`],
    "status says where it answers",
  );
  const served = await call(`${ctx.gateway}/later`);
  t.is(served.status, 200, served.text);
  const table = await ok("get", "endpoints");
  t.regex(table, new RegExp(`later\\s.*${ctx.gateway.replaceAll(".", "\\.")}/later\\s+READY`));

  await ok("delete", "endpoint", "later");
  // Deleting is routed away once the gateway applied it: look until it is.
  let gone = await call(`${ctx.gateway}/later`);
  while (gone.status !== 404) gone = await call(`${ctx.gateway}/later`);
  t.regex((gone.json() as { error: { message: string } }).error.message, /no endpoint serves/);
});

test("another org's endpoint is served under /<org>, and its function sees its own path", async (t) => {
  await ok("create", "org", "acme");
  const file = join(ctx.dir, "acme-echo.js");
  await writeFile(file, echo);
  await ok("create", "function", "echo", file, "--org", "acme", "--wait");
  await ok("create", "endpoint", "items", "echo", "--org", "acme", "--path", "/items/*", "--wait");
  const res = await call(`${ctx.gateway}/acme/items/42?x=1`);
  t.is(res.status, 200, res.text);
  const body = res.json() as { path: string; payload: unknown };
  t.is(body.path, "/items/42");
  t.deepEqual(body.payload, { x: "1" });
  t.is((await call(`${ctx.gateway}/items/42`)).status, 404, "not at the root: that is the default org's");
});

test("scale to zero: a call through the gateway wakes a function that runs no instance", async (t) => {
  await fn("sleepy", hello, "--min-scale", "0", "--idle-timeout", "1s");
  await ok("create", "endpoint", "sleepy", "sleepy", "--path", "/sleepy", "--wait");
  const instances = async () =>
    (JSON.parse(await ok("get", "function", "sleepy", "-o", "json")).status.readyInstances as number) ?? 0;
  // Scaled down once idle: wait for it (however long a busy machine takes).
  while ((await instances()) > 0) await new Promise((resolve) => setTimeout(resolve, 200));
  const woken = await call(`${ctx.gateway}/sleepy?name=Bran`);
  t.is(woken.status, 200, woken.text);
  t.deepEqual(woken.json(), { myField: "Hello, Bran from Nowhere" });
});

test("token auth: the endpoint's secret holds the accepted tokens; rotating it takes effect; the components' token reveals no other secret", async (t) => {
  await fn("guarded", hello);
  await ok("create", "secret", "api-tokens", "--from-literal", "ci=tok-ci-0123456789");
  await ok("create", "secret", "unrelated", "--from-literal", "password=hunter2");
  await ok(
    "create",
    "endpoint",
    "guarded",
    "guarded",
    "--path",
    "/guarded",
    "--auth",
    "token",
    "--token-secret",
    "api-tokens",
    "--wait",
  );
  const url = `${ctx.gateway}/guarded`;
  const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
  const anonymous = await call(url);
  t.is(anonymous.status, 401);
  t.regex((anonymous.json() as { error: { message: string } }).error.message, /needs a token/);
  t.is((await call(url, bearer("wrong-token-0000000"))).status, 401);
  const allowed = await call(url, bearer("tok-ci-0123456789"));
  t.is(allowed.status, 200, allowed.text);

  // Rotation: the old token stops working once the gateway has the new config.
  await ok("update", "secret", "api-tokens", "--from-literal", "ci=tok-ci-rotated-98765");
  let old = await call(url, bearer("tok-ci-0123456789"));
  while (old.status === 200) old = await call(url, bearer("tok-ci-0123456789"));
  t.is(old.status, 401);
  t.is((await call(url, bearer("tok-ci-rotated-98765"))).status, 200);

  // The component's grant is narrow: a secret no token endpoint names stays sealed to it.
  const component = (await readFile(join(ctx.dir, "data", "component.token"), "utf8")).trim();
  const clients = createDispatchClients(
    createDispatchTransport({ server: ctx.up.controlPlane.url, token: component }),
  );
  const named = await clients.secrets.get({ name: "api-tokens", reveal: true });
  t.deepEqual(named.secret?.spec?.data, { ci: "tok-ci-rotated-98765" });
  const refused = await t.throwsAsync(clients.secrets.get({ name: "unrelated", reveal: true }));
  t.regex(refused?.message ?? "", /component token and may not read secret values/);
});
