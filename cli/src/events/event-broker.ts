import type { Client } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { createEventClient, RequestTimeoutError } from "@dispatch/client";
import type { EventService } from "@dispatch/proto";
import { type Command, Option } from "commander";
import type { Session } from "../app.js";
import { CommandError } from "../errors.js";
import { networkCode } from "../output/failure.js";

/** The environment variable that names the event broker's URL. */
export const EVENTS_URL_ENV = "DISPATCH_EVENTS_URL";

/** The event broker a command talks to: where, and a client of its `EventService`. */
export interface EventBroker {
  /** The broker's base URL, e.g. `http://127.0.0.1:8082`. */
  url: string;
  client: Client<typeof EventService>;
  /**
   * Runs calls of `client`, with failures to reach the broker told as such
   * (the URL, and how to give another) rather than as the control plane's.
   */
  call<T>(fn: (client: Client<typeof EventService>) => Promise<T>): Promise<T>;
  /** {@link call}'s explanation for an error thrown while reading a stream. */
  explain(err: unknown): unknown;
}

/** Adds `--events-url URL` to a command that talks to the event broker. */
export function addEventsUrlOption(command: Command): Command {
  return command.addOption(
    new Option(
      "--events-url <url>",
      `the event broker's URL (env ${EVENTS_URL_ENV}; default: the "events" URL of "dispatch status")`,
    ),
  );
}

/**
 * Finds the event broker: `--events-url`, else `$DISPATCH_EVENTS_URL`, else the
 * `events` URL the control plane reports (`SystemService.GetStatus`, what
 * `dispatch status` shows). The broker serves `EventService` at its own URL and
 * takes the same token as the control plane.
 *
 * @throws CommandError when no broker is known.
 */
export async function openEventBroker(session: Session, flag: string | undefined): Promise<EventBroker> {
  const url = flag || session.io.env[EVENTS_URL_ENV] || (await reportedEventsUrl(session));
  if (!url) {
    throw new CommandError(
      `this Dispatch has no event broker: "dispatch status" lists no events URL for ${session.settings.server}`,
      {
        lines: [
          '"dispatch up" starts one with the control plane: is this Dispatch older than the CLI? (see "dispatch version")',
          `if a broker runs elsewhere, give its URL with --events-url URL or ${EVENTS_URL_ENV}`,
        ],
      },
    );
  }
  const client = createEventClient(session.transportTo(url));
  const explain = (err: unknown) => explainBrokerFailure(err, url);
  return {
    url,
    client,
    explain,
    async call(fn) {
      try {
        return await fn(client);
      } catch (err) {
        throw explain(err);
      }
    },
  };
}

async function reportedEventsUrl(session: Session): Promise<string | undefined> {
  const { urls } = await session.clients.system.getStatus({});
  return urls.events || undefined;
}

/**
 * A failure to reach the broker, or an answer that says `url` is not one, as a
 * {@link CommandError} naming the broker; any other error as it is.
 */
export function explainBrokerFailure(err: unknown, url: string): unknown {
  const elsewhere = `if the broker is at another URL, give it with --events-url URL or ${EVENTS_URL_ENV}`;
  if (err instanceof RequestTimeoutError) {
    return new CommandError(
      `no answer from the event broker at ${url} within ${err.timeoutMs / 1000}s (${err.call})`,
      {
        cause: err,
        lines: [
          'is it running and healthy? Check "dispatch status" and the log of "dispatch up" (or of the broker)',
          "if the call needs longer, raise --request-timeout (env DISPATCH_REQUEST_TIMEOUT)",
        ],
      },
    );
  }
  if (!(err instanceof ConnectError)) return err;
  const network = networkCode(err);
  if (network) {
    return new CommandError(`cannot reach the event broker at ${url} (${network}): is it running?`, {
      cause: err,
      lines: ['"dispatch status" shows its health', elsewhere],
    });
  }
  if (err.code === Code.Unimplemented) {
    return new CommandError(`${url} does not serve the event broker's API (dispatch.v1.EventService)`, {
      cause: err,
      lines: [`is it the "events" URL of "dispatch status", not another Dispatch component?`, elsewhere],
    });
  }
  return err;
}
