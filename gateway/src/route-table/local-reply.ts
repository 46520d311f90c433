import type { HttpConnectionManager } from "@dispatch/proto/envoy";
import { ConfigError, within } from "./config-error.js";
import { envoyEnum } from "./envoy-enum.js";
import { compileHeaderMatcher } from "./header-matcher.js";
import type { RequestView } from "./request.js";
import {
  type CompiledFormat,
  type CompiledJson,
  compileFormat,
  compileJsonFormat,
  type FormatContext,
  renderJson,
  renderText,
} from "./substitution-format.js";

type LocalReplyConfig = NonNullable<HttpConnectionManager["localReplyConfig"]>;
type ResponseMapper = LocalReplyConfig["mappers"][number];
type AccessLogFilter = NonNullable<ResponseMapper["filter"]>;
type SubstitutionFormatString = NonNullable<LocalReplyConfig["bodyFormat"]>;

/**
 * An answer the proxy makes itself (no route, no healthy upstream, a direct
 * response, a filter's refusal, …), before the connection manager's
 * `local_reply_config` shapes it. `flags` are Envoy's response flags (`NR`,
 * `UH`, `UF`, `UT`, `RL`, …), which mappers can select on.
 */
export interface LocalReply {
  readonly status: number;
  readonly body: string;
  readonly flags: readonly string[];
  /** Envoy's response code details (`route_not_found`, `cluster_not_found`, …). */
  readonly details: string;
  /** Headers the reply carries before mapping (e.g. `location`, `www-authenticate`). */
  readonly headers: readonly (readonly [string, string])[];
}

/** A local reply as it goes on the wire. */
export interface RenderedReply {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly body: string;
  readonly headers: readonly (readonly [string, string])[];
}

/** What a reply is rendered against. */
export interface ReplyContext {
  readonly request: RequestView | undefined;
  readonly routeName: string | undefined;
  readonly upstreamHost: string | undefined;
  readonly protocol: string;
  readonly startTime: Date;
  readonly remoteAddress: string;
  readonly remotePort: number;
}

/** Turns local replies into responses. */
export interface LocalReplyRenderer {
  render(reply: LocalReply, context: ReplyContext): RenderedReply;
}

interface CompiledMapper {
  readonly matches: (reply: LocalReply, context: ReplyContext) => boolean;
  readonly status: number | undefined;
  readonly body: string | undefined;
  readonly format: CompiledBodyFormat | undefined;
  readonly headers: readonly (readonly [string, string])[];
}

type CompiledBodyFormat =
  | { readonly kind: "text"; readonly format: CompiledFormat; readonly contentType: string }
  | {
      readonly kind: "json";
      readonly format: CompiledJson;
      readonly contentType: string;
      readonly omitEmpty: boolean;
    };

const comparisonOps = {
  eq: envoyEnum("envoy.config.accesslog.v3.ComparisonFilter.Op", "EQ"),
  ge: envoyEnum("envoy.config.accesslog.v3.ComparisonFilter.Op", "GE"),
  le: envoyEnum("envoy.config.accesslog.v3.ComparisonFilter.Op", "LE"),
};

/**
 * The gateway's answer when the connection manager has no `local_reply_config`:
 * errors (4xx, 5xx) are JSON, `{"error": {"type", "message"}}` like every other
 * Dispatch error (InputError for 4xx, SystemError for 5xx), so no client ever
 * parses Envoy's plain-text bodies; other replies (redirects) carry their
 * message, if any, as text.
 */
export const defaultReplyRenderer: LocalReplyRenderer = {
  render(reply) {
    if (reply.status < 400) {
      const contentType = reply.body === "" ? undefined : "text/plain";
      return { status: reply.status, contentType, body: reply.body, headers: reply.headers };
    }
    const type = reply.status >= 500 ? "SystemError" : "InputError";
    const message = reply.body !== "" ? reply.body : reply.details.replaceAll("_", " ");
    return {
      status: reply.status,
      contentType: "application/json",
      body: `${JSON.stringify({ error: { type, message } })}\n`,
      headers: reply.headers,
    };
  },
};

/**
 * Compiles `local_reply_config` as Envoy applies it: the first mapper whose
 * filter matches may change the status, the body (`%LOCAL_REPLY_BODY%` is the
 * original), add headers and override the body format; then the body format
 * (the mapper's, else the config's) renders the body. Without a
 * `local_reply_config` the {@link defaultReplyRenderer} applies.
 */
export function compileLocalReplyConfig(
  config: LocalReplyConfig | undefined,
  maxProgramSize: number,
): LocalReplyRenderer {
  if (!config) return defaultReplyRenderer;
  const mappers = config.mappers.map((m, i) =>
    within(`mappers[${i}]`, () => compileMapper(m, maxProgramSize)),
  );
  const bodyFormat = config.bodyFormat
    ? within("body_format", () => compileBodyFormat(config.bodyFormat as SubstitutionFormatString))
    : undefined;
  return {
    render(reply, context) {
      const mapper = mappers.find((m) => m.matches(reply, context));
      const status = mapper?.status ?? reply.status;
      const body = mapper?.body ?? reply.body;
      const headers = [...reply.headers, ...(mapper?.headers ?? [])];
      const format = mapper?.format ?? bodyFormat;
      if (!format) return { status, contentType: body === "" ? undefined : "text/plain", body, headers };
      const formatContext = toFormatContext({ ...reply, status }, body, context, headers);
      return format.kind === "text"
        ? { status, contentType: format.contentType, body: renderText(format.format, formatContext), headers }
        : {
            status,
            contentType: format.contentType,
            body: renderJson(format.format, formatContext, format.omitEmpty),
            headers,
          };
    },
  };
}

function compileMapper(mapper: ResponseMapper, maxProgramSize: number): CompiledMapper {
  if (!mapper.filter) throw new ConfigError("filter", "is required");
  const filter = mapper.filter;
  const body = mapper.body?.specifier;
  if (body && body.case !== "inlineString" && body.case !== "inlineBytes") {
    throw new ConfigError("body", "must be inline: the gateway reads no files or environment");
  }
  return {
    matches: within("filter", () => compileFilter(filter, maxProgramSize)),
    status: mapper.statusCode,
    body:
      body?.case === "inlineString"
        ? body.value
        : body?.case === "inlineBytes"
          ? Buffer.from(body.value).toString("utf8")
          : undefined,
    format: mapper.bodyFormatOverride
      ? within("body_format_override", () =>
          compileBodyFormat(mapper.bodyFormatOverride as SubstitutionFormatString),
        )
      : undefined,
    headers: mapper.headersToAdd.map((h, i) => {
      if (!h.header) throw new ConfigError(`headers_to_add[${i}].header`, "is required");
      return [h.header.key.toLowerCase(), h.header.value] as const;
    }),
  };
}

function compileFilter(
  filter: AccessLogFilter,
  maxProgramSize: number,
): (reply: LocalReply, context: ReplyContext) => boolean {
  const spec = filter.filterSpecifier;
  switch (spec.case) {
    case "statusCodeFilter": {
      const comparison = spec.value.comparison;
      if (!comparison) throw new ConfigError("status_code_filter.comparison", "is required");
      const value = comparison.value?.defaultValue ?? 0;
      switch (comparison.op) {
        case comparisonOps.eq:
          return (r) => r.status === value;
        case comparisonOps.ge:
          return (r) => r.status >= value;
        case comparisonOps.le:
          return (r) => r.status <= value;
        default:
          throw new ConfigError("status_code_filter.comparison.op", `unknown op ${comparison.op}`);
      }
    }
    case "responseFlagFilter": {
      const flags = new Set(spec.value.flags);
      return (r) => (flags.size === 0 ? r.flags.length > 0 : r.flags.some((f) => flags.has(f)));
    }
    case "headerFilter": {
      const header = spec.value.header;
      if (!header) throw new ConfigError("header_filter.header", "is required");
      const matcher = within("header_filter.header", () => compileHeaderMatcher(header, maxProgramSize));
      return (_r, c) => c.request !== undefined && matcher(c.request);
    }
    case "notHealthCheckFilter":
      return () => true;
    case "andFilter": {
      const all = spec.value.filters.map((f, i) =>
        within(`and_filter.filters[${i}]`, () => compileFilter(f, maxProgramSize)),
      );
      return (r, c) => all.every((f) => f(r, c));
    }
    case "orFilter": {
      const any = spec.value.filters.map((f, i) =>
        within(`or_filter.filters[${i}]`, () => compileFilter(f, maxProgramSize)),
      );
      return (r, c) => any.some((f) => f(r, c));
    }
    case undefined:
      throw new ConfigError("filter_specifier", "is required");
    default:
      throw new ConfigError(
        spec.case,
        "this access log filter is not supported in local replies by the gateway",
      );
  }
}

function compileBodyFormat(format: SubstitutionFormatString): CompiledBodyFormat {
  if (format.formatters.length > 0)
    throw new ConfigError("formatters", "formatter extensions are not supported by the gateway");
  const spec = format.format;
  switch (spec.case) {
    case "textFormat":
      return {
        kind: "text",
        format: compileFormat(spec.value, "text_format"),
        contentType: format.contentType || "text/plain",
      };
    case "textFormatSource": {
      const source = spec.value.specifier;
      if (source.case !== "inlineString")
        throw new ConfigError("text_format_source", "must be inline_string");
      return {
        kind: "text",
        format: compileFormat(source.value, "text_format_source"),
        contentType: format.contentType || "text/plain",
      };
    }
    case "jsonFormat":
      return {
        kind: "json",
        format: compileJsonFormat(spec.value, "json_format"),
        contentType: format.contentType || "application/json",
        omitEmpty: format.omitEmptyValues,
      };
    case undefined:
      throw new ConfigError("format", "is required (text_format, text_format_source or json_format)");
  }
}

function toFormatContext(
  reply: LocalReply,
  body: string,
  context: ReplyContext,
  headers: readonly (readonly [string, string])[],
): FormatContext {
  return {
    status: reply.status,
    localReplyBody: body,
    responseFlags: reply.flags.join(","),
    responseCodeDetails: reply.details,
    protocol: context.protocol,
    routeName: context.routeName,
    upstreamHost: context.upstreamHost,
    startTime: context.startTime,
    remoteAddress: context.remoteAddress,
    remotePort: context.remotePort,
    requestHeader: (name) => context.request?.header(name),
    responseHeader: (name) => headers.find(([n]) => n === name)?.[1],
  };
}
