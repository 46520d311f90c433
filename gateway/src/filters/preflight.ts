import type { RequestView } from "../route-table/request.js";

/** A CORS preflight: OPTIONS with an Origin and an Access-Control-Request-Method. */
export function isCorsPreflight(request: RequestView): boolean {
  return (
    request.method === "OPTIONS" &&
    (request.header("origin") ?? "") !== "" &&
    (request.header("access-control-request-method") ?? "") !== ""
  );
}
