import { create } from "@bufbuild/protobuf";
import {
  BackendSchema,
  CorsSchema,
  type EndpointAuth,
  EndpointAuthSchema,
  type EndpointSpec,
  RateLimitSchema,
  RetriesSchema,
} from "@dispatch/proto";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { App } from "../app.js";
import { UsageError } from "../errors.js";
import { parseCountFlag, parseDurationFlag, toDuration } from "../functions/function-flags.js";
import { parseDuration } from "../output/time.js";

/** The flags `create endpoint` and `update endpoint` share. */
export interface EndpointFlags {
  method?: string[];
  path?: string[];
  host?: string[];
  cors?: boolean;
  corsOrigin?: string[];
  httpsOnly?: boolean;
  auth?: "public" | "token" | "jwt";
  tokenSecret?: string;
  jwtIssuer?: string;
  jwksUrl?: string;
  jwksFile?: string;
  jwtAudience?: string[];
  retries?: number;
  backend?: [string, number][];
  rateLimit?: { requests: number; perMs: number };
  /** How long --wait waits, in milliseconds. */
  timeoutWait: number;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Parses one `--backend FUNCTION=WEIGHT` and adds it to the ones before. */
export function parseBackendFlag(value: string, previous: [string, number][] = []): [string, number][] {
  const match = /^([^=]+)=(\d+)$/.exec(value.trim());
  if (!match) throw new InvalidArgumentError(`"${value}" is not FUNCTION=WEIGHT, e.g. hello=90.`);
  return [...previous, [match[1] as string, Number(match[2])]];
}

/** Parses `--rate-limit N/DURATION` (`100/s`, `600/1m`, `5/10s`). */
export function parseRateLimitFlag(value: string): { requests: number; perMs: number } {
  const match = /^(\d+)\/(.+)$/.exec(value.trim());
  const per = match
    ? parseDuration(/^\d/.test(match[2] as string) ? (match[2] as string) : `1${match[2]}`)
    : undefined;
  if (!match || per === undefined || per <= 0 || Number(match[1]) <= 0) {
    throw new InvalidArgumentError("use REQUESTS/DURATION, e.g. 100/s, 600/1m or 5/10s.");
  }
  return { requests: Number(match[1]), perMs: per };
}

/**
 * Adds the endpoint flags. `--timeout` is declared for the help text only: the
 * parent command owns that flag (see `functionTimeoutMs`, which reads it for
 * endpoints too).
 */
export function addEndpointOptions(command: Command, verb: "create" | "update"): Command {
  const replaces = verb === "update" ? "; replaces the endpoint's list" : "";
  command
    .option(
      "--method <method>",
      `an HTTP method the endpoint takes (repeatable; default: all${replaces})`,
      collect,
    )
    .option(
      "--path <path>",
      `a path: exact /hello, prefix /hello/*, or RE2 regex ~^/items/[0-9]+$ (repeatable${verb === "create" ? "; default: /NAME" : replaces})`,
      collect,
    )
    .option(
      "--host <host>",
      `a host name, e.g. api.example.com or *.example.com (repeatable; default: any host${replaces})`,
      collect,
    )
    .option("--cors", "answer browsers' cross-origin requests from any origin (with preflight)")
    .option(
      "--cors-origin <origin>",
      `an origin allowed cross-origin, e.g. https://app.example.com (repeatable${replaces})`,
      collect,
    )
    .option("--https-only", "refuse plain-HTTP calls with a message to use HTTPS");
  if (verb === "update") {
    // After --cors and --https-only: Commander gives a `--no-x` declared first
    // (or alone) the default x = true, which would switch both on at every update.
    command
      .option("--no-cors", "stop answering cross-origin requests")
      .option("--no-https-only", "take plain-HTTP calls again");
  }
  return command
    .addOption(
      new Option("--auth <mode>", "who may call (default public)").choices(["public", "token", "jwt"]),
    )
    .option(
      "--token-secret <secret>",
      "with --auth token: the secret whose values are the accepted bearer tokens",
    )
    .option("--jwt-issuer <issuer>", "with --auth jwt: the tokens' iss")
    .option("--jwks-url <url>", "with --auth jwt: where the issuer publishes its keys (JWKS)")
    .option("--jwks-file <file>", "with --auth jwt: a JWKS file, instead of --jwks-url")
    .option("--jwt-audience <aud>", "with --auth jwt: an accepted aud (repeatable; default: any)", collect)
    .addOption(
      new Option(
        "--timeout <duration>",
        "the deadline of one request, e.g. 10s (default: the function's)",
      ).argParser(parseDurationFlag),
    )
    .option(
      "--retries <n>",
      "retry a failed call up to N times (before any of the answer was sent)",
      parseCountFlag,
    )
    .option(
      "--backend <function=weight>",
      `a weighted target instead of FUNCTION, e.g. --backend hello=90 --backend hello-next=10 (repeatable${replaces})`,
      parseBackendFlag,
    )
    .option(
      "--rate-limit <n/duration>",
      "at most N requests per duration, e.g. 100/s or 600/1m",
      parseRateLimitFlag,
    )
    .addOption(
      new Option("--timeout-wait <duration>", "how long --wait waits, e.g. 30s, 2m")
        .default(120_000, "2m")
        .argParser(parseDurationFlag),
    );
}

/**
 * Sets the fields of `spec` that the flags name, in place; what no flag names is
 * kept. Reads the JWKS file when given.
 *
 * @throws UsageError for flags that do not go together.
 */
export async function applyEndpointFlags(
  app: App,
  spec: EndpointSpec,
  flags: EndpointFlags,
  timeoutMs: number | undefined,
): Promise<void> {
  if (flags.backend !== undefined) {
    spec.function = "";
    spec.backends = flags.backend.map(([fn, weight]) => create(BackendSchema, { function: fn, weight }));
  }
  if (flags.method !== undefined) spec.methods = flags.method.map((m) => m.toUpperCase());
  if (flags.path !== undefined) spec.paths = [...flags.path];
  if (flags.host !== undefined) spec.hosts = [...flags.host];
  if (flags.cors === false) spec.cors = undefined;
  else if (flags.cors || flags.corsOrigin !== undefined) {
    spec.cors ??= create(CorsSchema);
    spec.cors.allowOrigins = flags.corsOrigin ?? ["*"];
  }
  if (flags.httpsOnly !== undefined) spec.httpsOnly = flags.httpsOnly;
  if (timeoutMs !== undefined) spec.timeout = toDuration(timeoutMs);
  if (flags.retries !== undefined) {
    spec.retries = flags.retries === 0 ? undefined : create(RetriesSchema, { attempts: flags.retries });
  }
  if (flags.rateLimit !== undefined) {
    spec.rateLimit = create(RateLimitSchema, {
      requests: flags.rateLimit.requests,
      per: toDuration(flags.rateLimit.perMs),
    });
  }
  const auth = await authFromFlags(app, flags, spec.auth);
  if (auth !== undefined) spec.auth = auth;
}

/** The auth the flags ask for, or undefined when they name none. */
async function authFromFlags(
  app: App,
  flags: EndpointFlags,
  current: EndpointAuth | undefined,
): Promise<EndpointAuth | undefined> {
  const jwtFlags = [flags.jwtIssuer, flags.jwksUrl, flags.jwksFile, flags.jwtAudience].some(
    (f) => f !== undefined,
  );
  const mode = flags.auth ?? (jwtFlags ? "jwt" : flags.tokenSecret !== undefined ? "token" : undefined);
  if (mode === undefined) return undefined;
  if (mode !== "jwt" && jwtFlags)
    throw new UsageError(
      `--jwt-issuer, --jwks-url, --jwks-file and --jwt-audience go with --auth jwt, not --auth ${mode}`,
    );
  if (mode !== "token" && flags.tokenSecret !== undefined)
    throw new UsageError(`--token-secret goes with --auth token, not --auth ${mode}`);
  if (mode === "public") return create(EndpointAuthSchema, { mode: { case: "public", value: true } });
  if (mode === "token") {
    const secret =
      flags.tokenSecret ?? (current?.mode.case === "token" ? current.mode.value.secret : undefined);
    if (secret === undefined) {
      throw new UsageError(
        "--auth token needs --token-secret SECRET: the secret whose values are the accepted tokens",
      );
    }
    return create(EndpointAuthSchema, { mode: { case: "token", value: { secret } } });
  }
  const kept = current?.mode.case === "jwt" ? current.mode.value : undefined;
  if (flags.jwksUrl !== undefined && flags.jwksFile !== undefined) {
    throw new UsageError("give --jwks-url or --jwks-file, not both");
  }
  const jwks =
    flags.jwksFile !== undefined
      ? await app.readInput(flags.jwksFile)
      : flags.jwksUrl !== undefined
        ? ""
        : (kept?.jwks ?? "");
  const jwksUri = flags.jwksUrl ?? (flags.jwksFile !== undefined ? "" : (kept?.jwksUri ?? ""));
  const issuer = flags.jwtIssuer ?? kept?.issuer ?? "";
  if (issuer === "") throw new UsageError("--auth jwt needs --jwt-issuer ISSUER (the tokens' iss)");
  if (jwks === "" && jwksUri === "")
    throw new UsageError("--auth jwt needs --jwks-url URL or --jwks-file FILE");
  return create(EndpointAuthSchema, {
    mode: {
      case: "jwt",
      value: { issuer, jwksUri, jwks, audiences: flags.jwtAudience ?? kept?.audiences ?? [] },
    },
  });
}

/** Whether any endpoint flag asked for a change. */
export function hasEndpointChanges(flags: EndpointFlags, timeoutMs: number | undefined): boolean {
  const { timeoutWait: _, ...named } = flags;
  return timeoutMs !== undefined || Object.values(named).some((value) => value !== undefined);
}
