import type { Cors } from "@dispatch/proto";
import type { CorsIR } from "../ir/ir.js";
import {
  defaultCorsHeaders,
  durationToMs,
  endpointLimits,
  headerToken,
  httpMethods,
  type Invalid,
} from "./endpoint-rules.js";
import { compareStrings, sortedUnique } from "./order.js";

/**
 * An endpoint's CORS settings, checked: exact origins (or "*"), header names,
 * methods (the endpoint's own when none are named), and a preflight cache age.
 */
export function planCors(cors: Cors, methods: string[], invalid: Invalid): CorsIR {
  if (cors.allowOrigins.length > endpointLimits.origins) {
    invalid("spec.cors.allow_origins", `at most ${endpointLimits.origins} origins`);
  }
  const origins: string[] = [];
  cors.allowOrigins.slice(0, endpointLimits.origins).forEach((origin, i) => {
    const normal = normalOrigin(origin);
    if (normal) origins.push(normal);
    else
      invalid(
        `spec.cors.allow_origins[${i}]`,
        `"${origin.slice(0, 256)}" is not "*" or an origin like "https://app.example.com"`,
      );
  });
  const headerList = (field: string, values: string[]): string[] => {
    if (values.length > endpointLimits.headers) invalid(field, `at most ${endpointLimits.headers} headers`);
    values.slice(0, endpointLimits.headers).forEach((h, i) => {
      if (h.length > endpointLimits.headerLength || !headerToken.test(h)) {
        invalid(`${field}[${i}]`, `"${h.slice(0, 64)}" is not a header name`);
      }
    });
    return sortedUnique(values.slice(0, endpointLimits.headers).map((h) => h.toLowerCase()));
  };
  cors.allowMethods.forEach((m, i) => {
    if (!httpMethods.has(m))
      invalid(`spec.cors.allow_methods[${i}]`, `"${m.slice(0, 32)}" is not an HTTP method`);
  });
  const allowMethods = sortedUnique(cors.allowMethods.filter((m) => httpMethods.has(m)));
  const ir: CorsIR = {
    allowOrigins: origins.length === 0 ? ["*"] : sortedUnique(origins),
    allowMethods:
      allowMethods.length > 0
        ? allowMethods
        : methods.length > 0
          ? methods
          : [...httpMethods].sort(compareStrings),
    allowHeaders:
      cors.allowHeaders.length > 0
        ? headerList("spec.cors.allow_headers", cors.allowHeaders)
        : [...defaultCorsHeaders],
    exposeHeaders: headerList("spec.cors.expose_headers", cors.exposeHeaders),
    allowCredentials: cors.allowCredentials,
  };
  if (cors.maxAge) {
    const ms = durationToMs(cors.maxAge);
    if (ms === undefined || ms < 0 || ms > 86_400_000)
      invalid("spec.cors.max_age", "must be between 0s and 24h");
    else ir.maxAgeSeconds = Math.floor(ms / 1000);
  }
  return ir;
}

function normalOrigin(origin: string): string | undefined {
  if (origin === "*") return origin;
  if (origin.length > endpointLimits.urlLength) return undefined;
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    // An origin is scheme://host[:port] and nothing else.
    return url.origin === origin.toLowerCase() ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
