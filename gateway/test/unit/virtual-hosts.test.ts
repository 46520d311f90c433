import test from "ava";
import { ConfigError } from "../../src/route-table/config-error.js";
import { indexVirtualHosts, stripPort } from "../../src/route-table/virtual-host-index.js";
import { request, routes } from "../support/envoy.js";

const index = indexVirtualHosts([
  { name: "exact", domains: ["api.example.com"], value: "exact" },
  { name: "suffix-short", domains: ["*.example.com"], value: "suffix-short" },
  { name: "suffix-long", domains: ["*.api.example.com"], value: "suffix-long" },
  { name: "suffix-dash", domains: ["*-beta.example.com"], value: "suffix-dash" },
  { name: "prefix-short", domains: ["api.*"], value: "prefix-short" },
  { name: "prefix-long", domains: ["api.example.*"], value: "prefix-long" },
  { name: "default", domains: ["*"], value: "default" },
]);

test("virtual hosts: exact beats every wildcard, case-insensitively", (t) => {
  t.is(index.find("api.example.com"), "exact");
  t.is(index.find("API.Example.COM"), "exact");
});

test("virtual hosts: the longest suffix wildcard wins, and a wildcard stands for at least one character", (t) => {
  t.is(index.find("v1.api.example.com"), "suffix-long");
  t.is(index.find("www.example.com"), "suffix-short");
  t.is(index.find("shop-beta.example.com"), "suffix-dash");
  // "*.example.com" does not take "example.com" itself; nothing else does but the default.
  t.is(index.find("example.com"), "default");
  t.is(
    index.find(".api.example.com"),
    "suffix-short",
    "an empty wildcard part is no match for the longer suffix",
  );
});

test("virtual hosts: suffix wildcards beat prefix wildcards, the longest prefix wins, then *", (t) => {
  t.is(index.find("api.example.org"), "prefix-long");
  t.is(index.find("api.other"), "prefix-short");
  t.is(index.find("api.example.com.evil"), "prefix-long");
  t.is(index.find("unrelated.org"), "default");
});

test("virtual hosts: a domain in two virtual hosts is refused, naming both", (t) => {
  const error = t.throws(
    () =>
      indexVirtualHosts([
        { name: "a", domains: ["x.com"], value: 1 },
        { name: "b", domains: ["X.com"], value: 2 },
      ]),
    { instanceOf: ConfigError },
  );
  t.regex(error.message, /virtual_hosts\[1\]\.domains\[0\]: only unique values .* "a"/);
});

test("virtual hosts: the port is part of the host unless ignore_port_in_host_matching", (t) => {
  const init = {
    name: "r",
    virtualHosts: [
      {
        name: "h",
        domains: ["api.test"],
        routes: [
          {
            match: { pathSpecifier: { case: "prefix" as const, value: "/" } },
            action: { case: "directResponse" as const, value: { status: 200 } },
          },
        ],
      },
    ],
  };
  t.is(routes(init).route(request("GET", "http://api.test:8080/"), 0).virtualHost, undefined);
  t.is(
    routes({ ...init, ignorePortInHostMatching: true }).route(request("GET", "http://api.test:8080/"), 0)
      .virtualHost?.name,
    "h",
  );
  t.is(stripPort("[::1]:80"), "[::1]");
  t.is(stripPort("example.com:443"), "example.com");
  t.is(stripPort("example.com"), "example.com");
});
