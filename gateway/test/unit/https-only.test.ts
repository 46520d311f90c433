import test from "ava";
import { downstreamScheme, requireTls } from "../../src/filters/https-only.js";
import { request } from "../support/envoy.js";

test("https-only: an edge gateway takes the scheme from the connection, not from x-forwarded-proto", (t) => {
  t.is(downstreamScheme(false, "https", 0), "http", "a client cannot claim HTTPS over plain HTTP");
  t.is(downstreamScheme(true, "http", 0), "https");
  t.is(downstreamScheme(false, "https", 1), "https", "a trusted proxy in front may say it terminated TLS");
  t.is(downstreamScheme(false, "gopher", 1), "http");
});

test("https-only: require_tls redirects plain requests to HTTPS (except internal ones for EXTERNAL_ONLY)", (t) => {
  const plain = request("POST", "http://api.test:8080/pay?x=1");
  const reply = requireTls("all", plain, false);
  t.is(reply?.status, 301);
  t.deepEqual(reply?.headers, [["location", "https://api.test/pay?x=1"]]);
  t.regex(reply?.body ?? "", /HTTPS only/);
  t.is(requireTls("all", request("POST", "https://api.test/pay"), false), undefined);
  t.is(requireTls("external-only", plain, true), undefined);
  t.is(requireTls("none", plain, false), undefined);
});
