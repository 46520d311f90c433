import { Code, ConnectError } from "@connectrpc/connect";
import type { DispatchClients } from "@dispatch/client";
import type { Endpoint } from "@dispatch/proto";

/** The values of token-auth endpoints' secrets, read once and kept until the secret changes. */
export interface TokenSource {
  /**
   * Reads (through `SecretService.Get` with `reveal`, which the control plane
   * grants a component only for secrets a token-auth endpoint names) every
   * token secret these endpoints name that is not known yet.
   */
  load(endpoints: readonly Endpoint[], signal: AbortSignal): Promise<void>;
  /** The values of a secret: undefined when it does not exist (or was never loaded). */
  tokens(org: string, secret: string): readonly string[] | undefined;
  /** Forgets a secret (it changed or went): the next `load` reads it again. */
  forget(org: string, secret: string): void;
}

/** Secrets read at once. */
const concurrentReads = 8;

/** Creates a {@link TokenSource} reading through `secrets`. */
export function createTokenSource(
  secrets: Pick<DispatchClients["secrets"], "get">,
  defaultOrg: string,
): TokenSource {
  /** `org/name` → the values, or null when the secret does not exist. */
  const known = new Map<string, string[] | null>();
  const key = (org: string, name: string) => `${org}/${name}`;
  return {
    async load(endpoints, signal) {
      const wanted = new Map<string, { org: string; name: string }>();
      for (const endpoint of endpoints) {
        const mode = endpoint.spec?.auth?.mode;
        if (mode?.case !== "token" || mode.value.secret === "") continue;
        const org = endpoint.meta?.org || defaultOrg;
        const k = key(org, mode.value.secret);
        if (!known.has(k)) wanted.set(k, { org, name: mode.value.secret });
      }
      const queue = [...wanted.entries()];
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const [k, at] = next;
          known.set(k, await read(at.org, at.name, signal));
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrentReads, queue.length) }, worker));
    },
    tokens(org, secret) {
      return known.get(key(org, secret)) ?? undefined;
    },
    forget(org, secret) {
      known.delete(key(org, secret));
    },
  };

  async function read(org: string, name: string, signal: AbortSignal): Promise<string[] | null> {
    try {
      const { secret } = await secrets.get({ org, name, reveal: true }, { signal });
      return Object.values(secret?.spec?.data ?? {});
    } catch (err) {
      if (err instanceof ConnectError && err.code === Code.NotFound) return null;
      throw err;
    }
  }
}
