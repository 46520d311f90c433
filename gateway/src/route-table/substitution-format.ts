import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { ConfigError } from "./config-error.js";

/** What command operators read. Each getter returns undefined when the value is not known. */
export interface FormatContext {
  readonly status: number;
  readonly localReplyBody: string;
  readonly responseFlags: string;
  readonly responseCodeDetails: string;
  readonly protocol: string;
  readonly routeName: string | undefined;
  readonly upstreamHost: string | undefined;
  readonly startTime: Date;
  readonly remoteAddress: string;
  readonly remotePort: number;
  requestHeader(name: string): string | undefined;
  responseHeader(name: string): string | undefined;
}

type Value = string | number | undefined;
type Part = string | ((context: FormatContext) => Value);

/** A compiled format string: what it renders and whether it is one operator alone (typed in JSON). */
export interface CompiledFormat {
  readonly parts: readonly Part[];
}

/**
 * Parses an Envoy format string (`%OPERATOR%`, `%OPERATOR(arg)%`,
 * `%OPERATOR(arg):max_length%`, `%%`). The operators the gateway has are the
 * ones local replies and headers need: LOCAL_REPLY_BODY, RESPONSE_CODE,
 * RESPONSE_FLAGS, RESPONSE_CODE_DETAILS, PROTOCOL, ROUTE_NAME, UPSTREAM_HOST,
 * START_TIME, DOWNSTREAM_REMOTE_ADDRESS(_WITHOUT_PORT), REQ(h?alt),
 * RESP(h?alt). Any other is refused, as Envoy refuses unknown operators.
 */
export function compileFormat(format: string, path: string): CompiledFormat {
  const parts: Part[] = [];
  let literal = "";
  let i = 0;
  while (i < format.length) {
    const c = format[i] as string;
    if (c !== "%") {
      literal += c;
      i++;
      continue;
    }
    if (format[i + 1] === "%") {
      literal += "%";
      i += 2;
      continue;
    }
    const match = /^%([A-Z_0-9]+)(?:\(([^)]*)\))?(?::([0-9]+))?%/.exec(format.slice(i));
    if (!match?.[1])
      throw new ConfigError(path, `${JSON.stringify(format)} has a malformed %OPERATOR% at offset ${i}`);
    if (literal !== "") parts.push(literal);
    literal = "";
    const op = operator(match[1], match[2], path);
    const max = match[3] !== undefined ? Number(match[3]) : undefined;
    parts.push(
      max === undefined
        ? op
        : (context) => {
            const value = op(context);
            return typeof value === "string" ? value.slice(0, max) : value;
          },
    );
    i += match[0].length;
  }
  if (literal !== "") parts.push(literal);
  return { parts };
}

function operator(name: string, arg: string | undefined, path: string): (context: FormatContext) => Value {
  const needsNoArg = (op: (context: FormatContext) => Value) => {
    if (arg !== undefined) throw new ConfigError(path, `%${name}% takes no argument`);
    return op;
  };
  switch (name) {
    case "LOCAL_REPLY_BODY":
      return needsNoArg((c) => c.localReplyBody);
    case "RESPONSE_CODE":
      return needsNoArg((c) => c.status);
    case "RESPONSE_FLAGS":
      return needsNoArg((c) => c.responseFlags || undefined);
    case "RESPONSE_CODE_DETAILS":
      return needsNoArg((c) => c.responseCodeDetails || undefined);
    case "PROTOCOL":
      return needsNoArg((c) => c.protocol);
    case "ROUTE_NAME":
      return needsNoArg((c) => c.routeName);
    case "UPSTREAM_HOST":
      return needsNoArg((c) => c.upstreamHost);
    case "START_TIME":
      return (c) => c.startTime.toISOString();
    case "DOWNSTREAM_REMOTE_ADDRESS":
      return needsNoArg((c) =>
        c.remoteAddress.includes(":")
          ? `[${c.remoteAddress}]:${c.remotePort}`
          : `${c.remoteAddress}:${c.remotePort}`,
      );
    case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
      return needsNoArg((c) => c.remoteAddress);
    case "REQ":
    case "RESP": {
      if (!arg) throw new ConfigError(path, `%${name}(header)% needs a header name`);
      const [main, alt] = arg.toLowerCase().split("?");
      if (!main) throw new ConfigError(path, `%${name}(header)% needs a header name`);
      const read =
        name === "REQ"
          ? (c: FormatContext, h: string) => c.requestHeader(h)
          : (c: FormatContext, h: string) => c.responseHeader(h);
      return (c) => read(c, main) ?? (alt ? read(c, alt) : undefined);
    }
    default:
      throw new ConfigError(path, `%${name}% is not a command operator the gateway supports`);
  }
}

/** Renders as text: unknown values are "-", as in Envoy's text formats. */
export function renderText(format: CompiledFormat, context: FormatContext): string {
  return format.parts.map((p) => (typeof p === "string" ? p : String(p(context) ?? "-"))).join("");
}

/** A compiled `json_format`: every string in it is a format. */
export type CompiledJson =
  | { readonly kind: "object"; readonly fields: readonly (readonly [string, CompiledJson])[] }
  | { readonly kind: "array"; readonly items: readonly CompiledJson[] }
  | { readonly kind: "format"; readonly format: CompiledFormat }
  | { readonly kind: "literal"; readonly value: number | boolean | null };

/** Compiles a `json_format` (every string in it is a format string). */
export function compileJsonFormat(format: JsonObject, path: string): CompiledJson {
  return compileJsonValue(format, path);
}

function compileJsonValue(value: JsonValue, path: string): CompiledJson {
  if (typeof value === "string") return { kind: "format", format: compileFormat(value, path) };
  if (Array.isArray(value))
    return { kind: "array", items: value.map((v, i) => compileJsonValue(v, `${path}[${i}]`)) };
  if (value !== null && typeof value === "object") {
    return {
      kind: "object",
      fields: Object.entries(value).map(([key, v]) => [key, compileJsonValue(v, `${path}.${key}`)] as const),
    };
  }
  return { kind: "literal", value };
}

/**
 * Renders a JSON format: a string that is one operator alone keeps the
 * operator's type (RESPONSE_CODE is a number), unknown values are null, and
 * with `omitEmpty` keys whose value is unknown or empty are left out.
 */
export function renderJson(format: CompiledJson, context: FormatContext, omitEmpty: boolean): string {
  return `${JSON.stringify(renderValue(format, context, omitEmpty))}\n`;
}

function renderValue(value: CompiledJson, context: FormatContext, omitEmpty: boolean): JsonValue {
  switch (value.kind) {
    case "literal":
      return value.value;
    case "array":
      return value.items.map((v) => renderValue(v, context, omitEmpty));
    case "object": {
      const out: JsonObject = {};
      for (const [key, field] of value.fields) {
        const rendered = renderValue(field, context, omitEmpty);
        if (omitEmpty && (rendered === null || rendered === "")) continue;
        out[key] = rendered;
      }
      return out;
    }
    case "format": {
      const parts = value.format.parts;
      const [only, ...rest] = parts;
      if (rest.length === 0 && typeof only === "function") return only(context) ?? null;
      return parts.map((p) => (typeof p === "string" ? p : String(p(context) ?? ""))).join("");
    }
  }
}
