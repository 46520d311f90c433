import { Code, ConnectError } from "@connectrpc/connect";
import type { DispatchClients } from "@dispatch/client";
import { Role } from "@dispatch/proto";

/** Who calls the broker, as the control plane knows the token. */
export interface Caller {
  role: Role;
  /** The token's org; empty for admin tokens. */
  org: string;
}

/** Options of {@link createCallers}. */
export interface CallersOptions {
  /** The API without a token of its own (WhoAmI is asked with the caller's token). */
  tokens: Pick<DispatchClients["tokens"], "whoAmI">;
  /** Whether an org exists (the broker follows organizations with a watch cache). */
  orgExists(org: string): Promise<boolean>;
  now?: () => number;
}

/** The org an event goes to, checked against its caller, and the caller themselves. */
export interface Callers {
  /** The caller a bearer token stands for; a ConnectError (Unauthenticated, Unavailable) otherwise. */
  authenticate(token: string | undefined): Promise<Caller>;
  /**
   * The org `caller` acts in for a request naming `org` (empty: the caller's
   * own, "default" for admins): a ConnectError when the caller may not send
   * events there (PermissionDenied) or the org does not exist (NotFound).
   */
  orgFor(caller: Caller, org: string): Promise<string>;
}

/** A token's answer is kept this long (a revoked token stops working within it). */
const tokenTtlMs = 10_000;
/** A refused token is refused without asking again for this long. */
const refusedTtlMs = 2_000;
/** Tokens checked with the control plane at once, and the most that wait for a turn. */
const maxLookups = 8;
const maxWaiting = 1000;
/** At most this many tokens are remembered. */
const maxCached = 10_000;

/**
 * Authentication at the broker: a Dispatch token, checked with the control
 * plane (`TokenService.WhoAmI` asked with that token), remembered briefly so
 * that ingest does not ask once per event. Member tokens send to their own
 * org, admin tokens to any; component tokens send none (the broker stores
 * replies itself).
 */
export function createCallers(options: CallersOptions): Callers {
  const now = options.now ?? Date.now;
  const tokens = new Map<string, { until: number; caller?: Caller; error?: ConnectError }>();
  const remember = <K, V>(map: Map<K, V>, key: K, value: V) => {
    if (map.size >= maxCached) map.delete(map.keys().next().value as K);
    map.set(key, value);
  };
  const inFlight = new Map<string, Promise<Caller>>();
  let lookups = 0;
  const waiting: (() => void)[] = [];
  const ask = async (token: string, key: string): Promise<Caller> => {
    if (lookups >= maxLookups) {
      if (waiting.length >= maxWaiting) {
        throw new ConnectError("too many tokens to check at once; try again", Code.Unavailable);
      }
      // The slot is handed over by the lookup that ends.
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      lookups += 1;
    }
    try {
      const { token: info } = await options.tokens.whoAmI(
        {},
        { headers: { authorization: `Bearer ${token}` } },
      );
      const caller = { role: info?.role ?? Role.UNSPECIFIED, org: info?.org ?? "" };
      remember(tokens, key, { until: now() + tokenTtlMs, caller });
      return caller;
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.Unauthenticated) {
        const error = new ConnectError(
          "the token is not valid (unknown, revoked, or its org was deleted)",
          Code.Unauthenticated,
        );
        remember(tokens, key, { until: now() + refusedTtlMs, error });
        throw error;
      }
      throw new ConnectError(
        `the token could not be checked with the control plane: ${e.rawMessage}`,
        Code.Unavailable,
      );
    } finally {
      const next = waiting.shift();
      if (next) next();
      else lookups -= 1;
    }
  };
  return {
    async authenticate(token) {
      if (!token) {
        throw new ConnectError(
          'this call needs a Dispatch token: send "Authorization: Bearer <token>" (dispatch create token, or the CLI context\'s token)',
          Code.Unauthenticated,
        );
      }
      // Keyed by the token itself: this process holds it anyway while it checks it.
      const key = token;
      const cached = tokens.get(key);
      if (cached && cached.until > now()) {
        if (cached.error) throw cached.error;
        return cached.caller as Caller;
      }
      // One question per token at a time, and a few at once in all: a caller that sends many
      // made-up tokens (any local process, a function among them) cannot make the broker flood
      // the control plane with WhoAmI calls.
      const asking = inFlight.get(key);
      if (asking) return asking;
      const answer = ask(token, key);
      inFlight.set(key, answer);
      try {
        return await answer;
      } finally {
        inFlight.delete(key);
      }
    },
    async orgFor(caller, org) {
      let target: string;
      if (caller.role === Role.ADMIN) target = org || "default";
      else if (caller.role === Role.ORG_MEMBER) {
        if (org !== "" && org !== caller.org) {
          throw new ConnectError(
            `this token belongs to org "${caller.org}" and cannot send events to org "${org}"`,
            Code.PermissionDenied,
          );
        }
        target = caller.org;
      } else {
        throw new ConnectError(
          "component tokens cannot send events; use a member or admin token",
          Code.PermissionDenied,
        );
      }
      let exists: boolean;
      try {
        exists = await options.orgExists(target);
      } catch (err) {
        throw new ConnectError(
          `org "${target}" could not be checked with the control plane: ${ConnectError.from(err).rawMessage}`,
          Code.Unavailable,
        );
      }
      if (!exists) throw new ConnectError(`org "${target}" not found`, Code.NotFound);
      return target;
    },
  };
}
