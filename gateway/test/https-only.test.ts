import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import test from "ava";
import { edsCluster, listener, loadAssignment, prefixRoute, rds, routeConfig } from "./support/envoy.js";
import { withGateway } from "./support/gateway.js";
import { call } from "./support/http.js";

/** A self-signed certificate for the test hosts, made with openssl for this run. */
async function certificate(t: { teardown(fn: () => Promise<void>): void }) {
  const dir = await mkdtemp(join(tmpdir(), "gateway-tls-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await promisify(execFile)("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:secure.test,DNS:strict.test",
    "-keyout",
    join(dir, "key.pem"),
    "-out",
    join(dir, "cert.pem"),
  ]);
  return {
    cert: await readFile(join(dir, "cert.pem"), "utf8"),
    key: await readFile(join(dir, "key.pem"), "utf8"),
  };
}

test("https-only: plain HTTP gets a JSON error telling it to use HTTPS; HTTPS is served; a client cannot claim HTTPS", async (t) => {
  const tls = await certificate(t);
  const { gateway, upstreams } = await withGateway(
    t,
    ["fn"],
    (u) => ({
      listeners: [listener("http", { routeSpecifier: rds("routes"), useRemoteAddress: true })],
      routes: [
        routeConfig({
          name: "routes",
          virtualHosts: [
            {
              name: "secure",
              domains: ["secure.test"],
              routes: [
                {
                  name: "https-only",
                  match: {
                    pathSpecifier: { case: "prefix", value: "/" },
                    headers: [
                      {
                        name: "x-forwarded-proto",
                        headerMatchSpecifier: {
                          case: "stringMatch",
                          value: { matchPattern: { case: "exact", value: "http" } },
                        },
                      },
                    ],
                  },
                  action: {
                    case: "directResponse",
                    value: {
                      status: 403,
                      body: {
                        specifier: {
                          case: "inlineString",
                          value: "this endpoint takes HTTPS only: call it with https://",
                        },
                      },
                    },
                  },
                },
                prefixRoute("/", "fn"),
              ],
            },
            { name: "strict", domains: ["strict.test"], requireTls: 2, routes: [prefixRoute("/", "fn")] },
          ],
        }),
      ],
      clusters: [edsCluster("fn")],
      endpoints: [loadAssignment("fn", [["127.0.0.1", u.fn?.port ?? 0]])],
    }),
    { listenTls: { port: 0, cert: tls.cert, key: tls.key } },
  );
  const plain = await call(`${gateway.url}/pay`, { host: "secure.test" });
  t.is(plain.status, 403);
  t.is(plain.headers["content-type"], "application/json");
  t.deepEqual(JSON.parse(plain.body), {
    error: { type: "InputError", message: "this endpoint takes HTTPS only: call it with https://" },
  });
  const spoofed = await call(`${gateway.url}/pay`, {
    host: "secure.test",
    headers: { "x-forwarded-proto": "https" },
  });
  t.is(spoofed.status, 403, "x-forwarded-proto from the client is overwritten at the edge");

  const secure = await call(`${gateway.tlsUrl}/pay`, { host: "secure.test", ca: tls.cert });
  t.is(secure.status, 200);
  t.is(JSON.parse(secure.body).headers["x-forwarded-proto"], "https");
  t.is(upstreams.fn?.received.length, 1);

  const strict = await call(`${gateway.url}/x?y=1`, { host: "strict.test" });
  t.is(strict.status, 301, "require_tls redirects as Envoy does");
  t.is(strict.headers.location, "https://strict.test/x?y=1");
  t.is((await call(`${gateway.tlsUrl}/x`, { host: "strict.test", ca: tls.cert })).status, 200);
});
