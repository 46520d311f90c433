import type { Message } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { RequestTimeoutError } from "@dispatch/client";
import { type Command, Help, InvalidArgumentError, Option } from "commander";
import type { Session } from "../app.js";
import { CommandError } from "../errors.js";
import type { Kind } from "../kinds/index.js";
import { objectJson, renderJson, renderYaml } from "../output/format.js";
import { createProgress } from "../output/progress.js";
import { parseDuration } from "../output/time.js";
import { waitForReady } from "../wait.js";

/** What happened to one object. */
export type Action = "created" | "configured" | "unchanged" | "deleted";

/** The `--wait` and `--timeout` flags of commands that change objects. */
export interface WaitFlags {
  wait?: boolean;
  timeout: number;
}

/** Adds `--wait` and `--timeout DURATION` (default 2m) to a command. */
export function addWaitOptions(command: Command): Command {
  return command.option("--wait", "wait until every object is READY (exit 1 if one reports ERROR)").addOption(
    new Option("--timeout <duration>", "how long --wait waits, e.g. 30s, 2m, 1h")
      .default(120_000, "2m")
      .argParser((value) => {
        const ms = parseDuration(value);
        if (ms === undefined || ms <= 0)
          throw new InvalidArgumentError("use a duration such as 30s, 2m or 1h.");
        return ms;
      }),
  );
}

/** A changed object to report and maybe wait for. */
export interface Outcome {
  kind: Kind;
  name: string;
  org: string;
  action: Action;
  object: Message | undefined;
}

/**
 * Reports what commands did: `secret/db created` lines in table mode (printed as
 * they happen), or the resulting objects as `{ "items": [...] }` with `-o json|yaml`
 * (printed by {@link Reporter.finish}).
 */
export interface Reporter {
  report(outcome: Outcome): void;
  /** Waits (when asked) and prints the collected objects. */
  finish(flags?: WaitFlags): Promise<void>;
}

/** Creates a {@link Reporter} for one command run. */
export function createReporter(session: Session): Reporter {
  const outcomes: Outcome[] = [];
  const format = session.settings.output;
  return {
    report(outcome) {
      outcomes.push(outcome);
      if (format === "table")
        session.io.stdout(`${outcome.kind.singular}/${outcome.name} ${outcome.action}\n`);
    },
    async finish(flags) {
      if (flags?.wait) await waitForAll(session, outcomes, flags.timeout);
      if (format === "table") return;
      const items = outcomes.filter((o) => o.object).map((o) => objectJson(o.kind, o.object as Message));
      const value = items.length === 1 && outcomes.length === 1 ? items[0] : { items };
      if (value === undefined) return;
      session.io.stdout(format === "json" ? renderJson(value) : renderYaml(value));
    },
  };
}

async function waitForAll(session: Session, outcomes: Outcome[], timeoutMs: number): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  const timeoutText = formatMs(timeoutMs);
  for (const outcome of outcomes) {
    if (outcome.action === "deleted") continue;
    const ops = outcome.kind.ops(session.clients);
    const progress = createProgress({
      write: (text) => session.io.stderr(text),
      isTTY: session.io.stderrIsTTY,
    });
    const label = `${outcome.kind.singular}/${outcome.name}`;
    try {
      outcome.object = await waitForReady(
        outcome.kind,
        ops,
        { org: outcome.org, name: outcome.name },
        { signal, timeoutText, progress },
      );
      progress.done(`${label} ready`);
    } catch (err) {
      progress.done();
      throw err;
    }
  }
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** The server said the object does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.NotFound;
}

/**
 * Runs a create call. When the object exists already, fails with the server's
 * message and `instead`, how to change what is there, e.g.
 * `function "hello" in org "default" already exists; change it with "dispatch update function hello ..."`.
 */
export async function createOrExplain<T>(call: () => Promise<T>, instead: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.AlreadyExists) {
      throw new CommandError(`${err.rawMessage}; ${instead}`, { cause: err });
    }
    throw err;
  }
}

/** The server cannot be reached, does not answer or refuses the token: every other call would fail the same way. */
export function failsEveryCall(err: unknown): boolean {
  if (err instanceof RequestTimeoutError) return true;
  return err instanceof ConnectError && (err.code === Code.Unavailable || err.code === Code.Unauthenticated);
}

/**
 * Runs `step` for each item, continuing past failures (each is printed as it
 * happens) and failing at the end if any did. Connection and auth failures stop at
 * once, since every other item would fail the same way.
 */
export async function forEachItem<T>(
  session: Session,
  items: readonly T[],
  label: (item: T) => string,
  step: (item: T) => Promise<void>,
): Promise<void> {
  let failed = 0;
  for (const item of items) {
    try {
      await step(item);
    } catch (err) {
      if (items.length === 1 || failsEveryCall(err)) throw err;
      if (!(err instanceof ConnectError || err instanceof CommandError)) throw err;
      failed++;
      const [first, ...rest] = (err instanceof ConnectError ? err.rawMessage : err.message).split("\n");
      session.io.stderr(`error: ${label(item)}: ${first}\n${rest.map((l) => `  ${l}\n`).join("")}`);
    }
  }
  if (failed > 0) {
    throw new CommandError(
      `${failed} of ${items.length} ${items.length === 1 ? "object" : "objects"} failed`,
    );
  }
}

/** Appends the examples block to a command's help. */
export function examples(command: Command, lines: readonly string[]): Command {
  return command.addHelpText("after", `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`);
}

/** `--wait` belongs to the parent command (`create`, `update`), which reads it wherever it is. */
export function waitRequested(command: Command): boolean {
  return command.optsWithGlobals<{ wait?: boolean }>().wait === true;
}

/**
 * For subcommands whose own `--timeout` means something else (a function's call
 * deadline, an endpoint's request deadline; see functionTimeoutMs): the help does
 * not also list the parent's `--timeout` (how long --wait waits).
 */
export function hideParentTimeout(command: Command): void {
  command.configureHelp({
    visibleGlobalOptions(this: Help, cmd: Command) {
      return Help.prototype.visibleGlobalOptions.call(this, cmd).filter((o) => o.long !== "--timeout");
    },
  });
}
