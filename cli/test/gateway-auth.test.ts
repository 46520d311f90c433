import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import test from "ava";
import { type CryptoKey, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from "jose";
import { type IngressHarness, startIngressHarness } from "./ingress-harness.js";

// An endpoint's policies as a user sets them with the CLI and a caller meets
// them through the gateway of `dispatch up` (gateway → activator → worker):
// JWT auth with really signed tokens, a weighted split, a rate limit, a
// request timeout and retries.

let h: IngressHarness;

test.before(async () => {
  h = await startIngressHarness("gateway-auth");
});

test.after.always(async () => {
  await h?.stop();
});

const ok = (...args: string[]) => h.ok(...args);
const fn = (name: string, code: string, ...flags: string[]) => h.fn(name, code, ...flags);

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json(): unknown;
}

async function call(path: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(`${h.gateway}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) };
}

/** The gateway's own answers are JSON errors: `{error: {type, message}}`. */
function errorOf(answer: Answer): { type: string; message: string } {
  return (answer.json() as { error: { type: string; message: string } }).error;
}

/** Generous bounds for a machine under load: each test waits on events, this only ends a hang. */
const backstop = 5 * 60_000;

const answering = (answer: string) => `export default async () => ({ answer: "${answer}" });\n`;

test("JWT: a token signed by the JWKS key passes; missing, expired, wrong issuer, wrong audience and bad signatures are refused with JSON errors", async (t) => {
  t.timeout(backstop);
  const issuer = "https://id.dispatch.test";
  const audience = "orders-api";
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const kid = "test-key-1";
  const jwks = join(h.dir, "jwks.json");
  await writeFile(
    jwks,
    JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" }] }),
  );
  await fn(
    "whoami",
    "export default async (context) => ({ authorization: context.http?.headers?.authorization ?? null });\n",
  );
  await ok(
    "create",
    "endpoint",
    "private",
    "whoami",
    ...["--path", "/private", "--auth", "jwt", "--jwt-issuer", issuer],
    ...["--jwks-file", jwks, "--jwt-audience", audience, "--wait"],
  );

  const now = Math.floor(Date.now() / 1000);
  const sign = (claims: JWTPayload, key: CryptoKey = privateKey) =>
    new SignJWT({ sub: "alice", ...claims }).setProtectedHeader({ alg: "ES256", kid, typ: "JWT" }).sign(key);
  const valid = { iss: issuer, aud: audience, iat: now, exp: now + 600 };
  const withToken = (token: string) => call("/private", { headers: { authorization: `Bearer ${token}` } });

  const passed = await withToken(await sign(valid));
  t.is(passed.status, 200, passed.text);
  t.deepEqual(passed.json(), { authorization: null }, "the verified token is not passed on to the function");

  const refusals: [string, Answer, number, RegExp][] = [
    ["missing", await call("/private"), 401, /Jwt is missing/],
    ["expired", await withToken(await sign({ ...valid, iat: now - 7200, exp: now - 3600 })), 401, /expired/],
    ["wrong issuer", await withToken(await sign({ ...valid, iss: "https://other.test" })), 401, /issuer/],
    // Envoy's jwt_authn answers an audience it does not accept with 403, and so does the gateway.
    ["wrong audience", await withToken(await sign({ ...valid, aud: "other-api" })), 403, /Audiences/],
    [
      "signed by another key",
      await withToken(await sign(valid, (await generateKeyPair("ES256")).privateKey)),
      401,
      /verification fails/,
    ],
    ["not a JWT", await withToken("not.a.jwt"), 401, /Jwt/],
  ];
  for (const [what, answer, status, message] of refusals) {
    t.is(answer.status, status, `${what}: ${answer.text}`);
    t.is(answer.headers.get("content-type"), "application/json", what);
    t.is(errorOf(answer).type, "InputError", what);
    t.regex(errorOf(answer).message, message, what);
    t.regex(answer.headers.get("www-authenticate") ?? "", /^Bearer realm=/, what);
  }
  // A token whose payload was changed after signing.
  const [header, , signature] = (await sign(valid)).split(".");
  const forgedPayload = Buffer.from(JSON.stringify({ ...valid, sub: "mallory" })).toString("base64url");
  const tampered = await withToken(`${header}.${forgedPayload}.${signature}`);
  t.is(tampered.status, 401, tampered.text);
  t.regex(errorOf(tampered).message, /verification fails/);
});

test("weighted split: --backend a=80 --backend b=20 sends calls to both, about four to one", async (t) => {
  t.timeout(backstop);
  await fn("split-a", answering("a"));
  await fn("split-b", answering("b"));
  await ok(
    "create",
    "endpoint",
    "split",
    "--path",
    "/split",
    "--backend",
    "split-a=80",
    "--backend",
    "split-b=20",
    "--wait",
  );
  const calls = 400;
  const counts = new Map<string, number>();
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      next++;
      const answer = await call("/split");
      const key =
        answer.status === 200 ? String((answer.json() as { answer: unknown }).answer) : `${answer.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  t.log(`answers: ${JSON.stringify(Object.fromEntries(counts))}`);
  const a = counts.get("a") ?? 0;
  const b = counts.get("b") ?? 0;
  t.is(a + b, calls, "every call answered by one of the two");
  // Expected b: 80, standard deviation 8; the bounds are five deviations away.
  t.true(b >= 40 && b <= 120, `b answered ${b} of ${calls}`);
});

test("rate limit: --rate-limit 3/1m lets three calls through and refuses the fourth with a JSON 429", async (t) => {
  t.timeout(backstop);
  await fn("limited", answering("limited"));
  await ok(
    "create",
    "endpoint",
    "limited",
    "limited",
    "--path",
    "/limited",
    "--rate-limit",
    "3/1m",
    "--wait",
  );
  for (let i = 1; i <= 3; i++) {
    const passed = await call("/limited");
    t.is(passed.status, 200, `call ${i}: ${passed.text}`);
  }
  const refused = await call("/limited");
  t.is(refused.status, 429, refused.text);
  t.deepEqual(errorOf(refused), {
    type: "InputError",
    message: "too many requests for this endpoint; try again later",
  });
  t.is(refused.headers.get("x-ratelimit-limit"), "3");
  t.is(refused.headers.get("x-ratelimit-remaining"), "0");
});

test("timeout: --timeout 1s answers a call the handler holds for a minute with a JSON 504", async (t) => {
  t.timeout(backstop);
  await fn(
    "slow",
    "export default async () => { await new Promise((r) => setTimeout(r, 60_000)); return { late: true }; };\n",
    "--timeout",
    "2m",
  );
  await ok("create", "endpoint", "slow", "slow", "--path", "/slow", "--timeout", "1s", "--wait");
  const answer = await call("/slow");
  t.is(answer.status, 504, answer.text);
  t.deepEqual(errorOf(answer), { type: "SystemError", message: "upstream request timeout" });
});

test("retries: with --retries 1 a call whose first try fails is answered by the second; without, the failure reaches the caller", async (t) => {
  t.timeout(backstop);
  // One instance, so the count lives in one process: odd calls fail, even ones answer.
  await fn(
    "flaky",
    'let calls = 0;\nexport default async () => { calls++; if (calls % 2 === 1) throw new Error("odd call " + calls); return { calls }; };\n',
    "--min-scale",
    "1",
    "--max-scale",
    "1",
  );
  await ok(
    "create",
    "endpoint",
    "flaky-retried",
    "flaky",
    "--path",
    "/flaky-retried",
    "--retries",
    "1",
    "--wait",
  );
  await ok("create", "endpoint", "flaky-once", "flaky", "--path", "/flaky-once", "--wait");
  for (const expected of [2, 4, 6]) {
    const answer = await call("/flaky-retried");
    t.is(answer.status, 200, answer.text);
    t.deepEqual(answer.json(), { calls: expected }, "the first try failed and the retry answered");
  }
  const failed = await call("/flaky-once");
  t.is(failed.status, 500, failed.text);
  t.like(errorOf(failed), { type: "FunctionError", message: "odd call 7" });
  const second = await call("/flaky-once");
  t.is(second.status, 200, second.text);
  t.deepEqual(second.json(), { calls: 8 });
});
