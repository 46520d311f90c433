import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { type ErrorMapping, type NatsHealth, toConnectError } from "@dispatch/server-kit";

/**
 * While NATS is away, calls that need it are answered Unavailable at once
 * (not after a NATS timeout, not as Internal), saying since when; the
 * services in `needsNoNats` (status, reflection) still answer. A call cut
 * short by the outage says so too.
 */
export function createNatsGate(
  health: NatsHealth,
  needsNoNats: ReadonlySet<string>,
  errors: ErrorMapping,
): Interceptor {
  return (next) => async (req) => {
    if (needsNoNats.has(req.service.typeName)) return await next(req);
    const down = health.unavailable();
    if (down) throw toConnectError(down, errors);
    try {
      return await next(req);
    } catch (err) {
      const lost = health.unavailable();
      if (lost && err instanceof ConnectError && err.code === Code.Unavailable)
        throw toConnectError(lost, errors);
      throw err;
    }
  };
}
