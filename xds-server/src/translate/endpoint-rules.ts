import { type Duration, durationMs } from "@bufbuild/protobuf/wkt";
import type { ProblemReason } from "./snapshot.js";

/** Limits on what one endpoint may ask for: hostile input stays small. */
export const endpointLimits = {
  paths: 64,
  hosts: 64,
  backends: 16,
  weight: 1_000_000,
  audiences: 32,
  origins: 64,
  headers: 64,
  headerLength: 256,
  tokens: 64,
  tokenLength: 4096,
  issuerLength: 1024,
  urlLength: 2048,
  retries: 10,
  rateLimitRequests: 1_000_000,
  timeoutMs: 15 * 60 * 1000,
  rateLimitPerMs: 24 * 60 * 60 * 1000,
} as const;

/** HTTP methods an endpoint may name. */
export const httpMethods: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "POST",
  "PUT",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "CONNECT",
  "TRACE",
]);

/** Envoy's `retry_on` conditions for HTTP routes (router filter, x-envoy-retry-on and x-envoy-retry-grpc-on). */
export const retryConditions: ReadonlySet<string> = new Set([
  "5xx",
  "gateway-error",
  "reset",
  "reset-before-request",
  "connect-failure",
  "envoy-ratelimited",
  "retriable-4xx",
  "refused-stream",
  "retriable-status-codes",
  "retriable-headers",
  "http3-post-connect-failure",
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
]);

/** What `--retries N` retries on when the endpoint names no condition. */
export const defaultRetryOn = ["5xx", "connect-failure", "refused-stream", "reset"];

/** Request headers a browser may send cross-origin when the endpoint names none. */
export const defaultCorsHeaders = ["authorization", "content-type"];

/** A lowercase host name, optionally with a leading "*." wildcard. */
export const hostPattern = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** An HTTP header name (an RFC 9110 token). */
export const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Visible ASCII and spaces. */
export const printable = /^[\x20-\x7e]+$/;
/** What a bearer token may hold: visible ASCII, no spaces. */
export const bearerToken = /^[\x21-\x7e]+$/;

/** Reports a field that keeps the endpoint from being served. */
export type Invalid = (field: string, message: string) => void;
/** Reports a problem the endpoint is served with. */
export type Note = (reason: ProblemReason, message: string) => void;

/** A protobuf Duration in ms; undefined when it is not a valid duration (negative, mixed signs, out of range). */
export function durationToMs(duration: Duration): number | undefined {
  const { seconds, nanos } = duration;
  if (seconds < 0n || nanos < 0 || nanos >= 1_000_000_000 || seconds > 315_576_000_000n) return undefined;
  return Math.floor(durationMs(duration));
}
