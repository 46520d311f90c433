/** Something a server needs in order to serve calls (its NATS connection, ...). */
export interface ReadinessCheck {
  /** The name under which a failed check is reported in `/readyz`'s answer ("nats"). */
  name: string;
  /** What is wrong, in words; undefined while all is well. */
  problem(): string | undefined;
}

/** What the answers need of a request: an HTTP/1.1 or HTTP/2 one, as Node or connect-node passes it. */
interface Request {
  url?: string | undefined;
}

/** What the answers need of a response. */
interface Response {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

/**
 * Answers the health endpoints, for Kubernetes probes and load balancers:
 * `/healthz` (liveness) is 200 while the process answers at all; `/readyz`
 * (readiness) is 200 when every check passes, else 503 with each failed
 * check's problem under its name: `{"status":"not ready","nats":"disconnected since ..."}`.
 * Returns false, answering nothing, for any other path.
 *
 * @example
 * const health = createHealthAnswers([{ name: "nats", problem: () => natsHealth.problem() }]);
 * connectNodeAdapter({ routes, fallback: (req, res) => health(req, res) || notFound(res) });
 */
export function createHealthAnswers(
  checks: readonly ReadinessCheck[],
): (req: Request, res: Response) => boolean {
  return (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/healthz") {
      answer(res, 200, { status: "ok" });
      return true;
    }
    if (path === "/readyz") {
      const failed = checks.flatMap((check) => {
        const problem = check.problem();
        return problem === undefined ? [] : [[check.name, problem] as const];
      });
      if (failed.length === 0) answer(res, 200, { status: "ok" });
      else answer(res, 503, { status: "not ready", ...Object.fromEntries(failed) });
      return true;
    }
    return false;
  };
}

function answer(res: Response, status: number, body: object): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
