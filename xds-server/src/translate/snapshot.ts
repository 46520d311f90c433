import type { Endpoint, Function as FunctionResource } from "@dispatch/proto";

/**
 * What the xds-server translates: the ingress state as a watch cache holds it.
 * The translator only reads it; a later step fills it from `Watch` streams on
 * the control plane (never by polling).
 *
 * @example
 * const snapshot: IngressSnapshot = {
 *   endpoints: [hello],
 *   functions: [helloFunction],
 *   tokens: () => undefined,
 * };
 */
export interface IngressSnapshot {
  /** Every Endpoint, of every org. */
  readonly endpoints: readonly Endpoint[];
  /**
   * Every Function an endpoint may name, with its status: `phase`, and in
   * `endpoints` the `http://IP:PORT` addresses of its ready instances.
   */
  readonly functions: readonly FunctionResource[];
  /**
   * The bearer tokens a `token`-auth endpoint accepts: the values held in the
   * named Secret of the org, or undefined when there is no such secret.
   */
  tokens(org: string, secret: string): readonly string[] | undefined;
}

/** Why an endpoint is not served as written: what a later step turns into its status. */
export type ProblemReason =
  /** A field cannot be served (bad path, regex, host, URL, …); the endpoint is left out. */
  | "InvalidSpec"
  /** Another, older endpoint already serves the same host, path and method; this one is left out. */
  | "RouteConflict"
  /** A function it forwards to does not exist; calls get a 503 with a JSON error. */
  | "FunctionNotFound"
  /** A function it forwards to is not ready; calls get a 503 with a JSON error until it is. */
  | "FunctionNotReady"
  /** Its token secret is missing or holds values that cannot be tokens; those are not accepted (401). */
  | "TokenSecretProblem"
  /** Envoy's own validation rules reject what it translates to; the endpoint is left out. */
  | "RejectedByValidation";

/** One problem of one endpoint. */
export interface EndpointProblem {
  /** `<org>/<name>`. */
  endpoint: string;
  reason: ProblemReason;
  /** A sentence saying what is wrong and how to fix it. */
  message: string;
  /** Whether the endpoint's routes are still served (with the behaviour the reason says). */
  served: boolean;
}
