import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import { type Route, RouteConfigurationSchema, registry } from "@dispatch/proto/envoy";
import test from "ava";
import { createResourceCompiler } from "../../src/route-table/resource-compiler.js";
import { createRouteConfigurationDecoder } from "../../src/xds-client/route-decoder.js";
import { factory, request, routeConfig } from "../support/envoy.js";

const direct = (status: number) => ({ case: "directResponse" as const, value: { status } });
const route = (name: string, path: string, status = 200) => ({
  name,
  match: { pathSpecifier: { case: "path" as const, value: path } },
  action: direct(status),
});

/** A configuration of two virtual hosts that share the any-host routes, as the xds-server builds them. */
function config(paths: string[], changed?: { index: number; status: number }) {
  const shared = paths.map((p, i) => route(`r${i}`, p, changed?.index === i ? changed.status : 200));
  return routeConfig({
    name: "dispatch-http",
    ignorePortInHostMatching: true,
    requestHeadersToRemove: ["dispatch-secrets"],
    virtualHosts: [
      { name: "api.example.com", domains: ["api.example.com"], routes: [route("own", "/own"), ...shared] },
      { name: "*", domains: ["*"], routes: shared },
    ],
  });
}

const json = (bytes: Uint8Array) =>
  toJson(RouteConfigurationSchema, fromBinary(RouteConfigurationSchema, bytes), { registry });

test("the route decoder gives what fromBinary gives, and keeps the Route objects of unchanged routes", (t) => {
  const decode = createRouteConfigurationDecoder();
  const paths = Array.from({ length: 50 }, (_, i) => `/p${i}`);
  const first = toBinary(RouteConfigurationSchema, config(paths));
  const a = decode(first);
  t.deepEqual(toJson(RouteConfigurationSchema, a, { registry }), json(first));

  const second = toBinary(RouteConfigurationSchema, config(paths, { index: 7, status: 503 }));
  const b = decode(second);
  t.deepEqual(toJson(RouteConfigurationSchema, b, { registry }), json(second));
  const anyHost = (c: typeof a) => c.virtualHosts[1]?.routes ?? [];
  for (let i = 0; i < paths.length; i++) {
    if (i === 7) t.not(anyHost(b)[i], anyHost(a)[i], "the changed route is decoded anew");
    else t.is(anyHost(b)[i], anyHost(a)[i], `route ${i} is the same object`);
  }
  // Bytes that are not a route configuration fail as fromBinary fails.
  t.throws(() => decode(new Uint8Array([0x12, 0x05, 0x01])));
});

test("a route table compiles each Route object once, and routes by the new configuration", (t) => {
  const compiler = createResourceCompiler({ factory });
  const decode = createRouteConfigurationDecoder();
  const paths = ["/a", "/b", "/c"];
  const before = compiler.route(decode(toBinary(RouteConfigurationSchema, config(paths))));
  const after = compiler.route(
    decode(toBinary(RouteConfigurationSchema, config(paths, { index: 1, status: 503 }))),
  );
  const routesOf = (table: typeof before) => table.virtualHosts[1]?.routes ?? [];
  t.is(routesOf(after)[0], routesOf(before)[0], "an unchanged route keeps its compiled form");
  t.not(routesOf(after)[1], routesOf(before)[1]);
  const status = (table: typeof before, path: string) => {
    const action = table.route(request("GET", `http://x${path}`), 0).route?.action;
    return action?.kind === "direct" ? action.status : undefined;
  };
  t.is(status(before, "/b"), 200);
  t.is(status(after, "/b"), 503);
  // An unnamed route is named by its place, so it is compiled where it stands.
  const unnamed = create(RouteConfigurationSchema, {
    name: "u",
    virtualHosts: [{ name: "h", domains: ["*"], routes: [{ ...route("", "/u") } as Route] }],
  });
  t.is(compiler.route(unnamed).virtualHosts[0]?.routes[0]?.name, "h/routes[0]");
});
