/**
 * Request headers between the data plane (the gateway, Envoy) and what it
 * calls, as the xds-server's routes set them and the activator and workers
 * (runtimes/CONTRACT.md) read them. Only the platform sets them: the route
 * configuration removes (or overwrites) any a client sent.
 */
export const upstreamHeaders = {
  /** The org of the function a call is for (set per route). */
  org: "dispatch-org",
  /** The function a call is for (set per route). */
  function: "dispatch-function",
  /** The proxy's Dispatch token at the activator. */
  activatorToken: "dispatch-token",
  /** An instance's credential at its worker. */
  workerToken: "dispatch-worker-token",
  /** The function's secrets for the handler's context. */
  secrets: "dispatch-secrets",
  /** The Run a call is recorded as. */
  runId: "dispatch-run-id",
} as const;
