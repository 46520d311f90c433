import { type Endpoint, EndpointSchema, Phase } from "@dispatch/proto";
import { checkName } from "../validation/violations.js";
import { checkDuration } from "./function.js";
import { binaryCodec, type Kind } from "./kind.js";
import { hostName, httpMethods } from "./names.js";

/** Endpoints (alias API): HTTP routes to functions on the gateway. */
export const endpointKind: Kind<Endpoint> = {
  name: "Endpoint",
  label: "endpoint",
  bucket: "endpoints",
  schema: EndpointSchema,
  global: false,
  initialPhase: () => Phase.INITIALIZED,
  codec: binaryCodec(EndpointSchema),
  validate(endpoint, v) {
    const spec = endpoint.spec;
    if (!spec) {
      v.add("spec", "is required");
      return;
    }
    if (spec.function === "" && spec.backends.length === 0) {
      v.add("spec.function", "is required (or give spec.backends for a weighted split)");
    } else if (spec.function !== "" && spec.backends.length > 0) {
      v.add("spec.backends", "cannot be combined with spec.function; use one or the other");
    }
    if (spec.function !== "") checkName(v, "spec.function", spec.function);
    let weight = 0;
    spec.backends.forEach((b, i) => {
      checkName(v, `spec.backends[${i}].function`, b.function);
      weight += b.weight;
    });
    if (spec.backends.length > 0 && weight === 0)
      v.add("spec.backends", "weights must add up to more than 0");
    if (spec.paths.length === 0) v.add("spec.paths", 'needs at least one path (e.g. "/hello")');
    spec.paths.forEach((path, i) => {
      if (path.startsWith("~")) {
        try {
          new RegExp(path.slice(1));
        } catch (err) {
          v.add(`spec.paths[${i}]`, `"${path}" is not a valid regular expression: ${(err as Error).message}`);
        }
      } else if (!path.startsWith("/")) {
        v.add(`spec.paths[${i}]`, `"${path}" must start with "/" (or "~" for a regular expression)`);
      } else if (path.includes("*") && !path.endsWith("/*")) {
        v.add(`spec.paths[${i}]`, `"${path}": "*" is only allowed at the end, as "/prefix/*"`);
      }
    });
    spec.methods.forEach((m, i) => {
      if (!httpMethods.has(m)) v.add(`spec.methods[${i}]`, `"${m}" is not an HTTP method (e.g. GET, POST)`);
    });
    spec.hosts.forEach((h, i) => {
      if (!hostName.test(h)) v.add(`spec.hosts[${i}]`, `"${h}" is not a valid host name`);
    });
    checkDuration(v, "spec.timeout", spec.timeout, 15 * 60 * 1000);
    if (spec.auth?.mode.case === "jwt") {
      const jwt = spec.auth.mode.value;
      if (jwt.issuer === "") v.add("spec.auth.jwt.issuer", "is required");
      if (!/^https?:\/\//.test(jwt.jwksUri)) v.add("spec.auth.jwt.jwks_uri", "must be an http(s) URL");
    } else if (spec.auth?.mode.case === "token") {
      checkName(v, "spec.auth.token.secret", spec.auth.mode.value.secret);
    }
    if (spec.rateLimit && spec.rateLimit.requests === 0) {
      v.add("spec.rate_limit.requests", "must be more than 0 (or leave out rate_limit)");
    }
  },
};
