import { clone, create } from "@bufbuild/protobuf";
import { type Filter, type Subscription, SubscriptionSchema, SubscriptionSpecSchema } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { kindByWord } from "../kinds/index.js";
import { nameProblem } from "../manifest.js";
import { parseFilterFile } from "../subscriptions/filter-file.js";
import {
  addSubscriptionOptions,
  applySubscriptionFlags,
  checkSubscriptionFlags,
  hasSubscriptionChanges,
  newSubscriptionSpec,
  type SubscriptionFlags,
} from "../subscriptions/subscription-flags.js";
import { updateSpec } from "../update-at-read-revision.js";
import { createOrExplain, createReporter, examples, type WaitFlags } from "./shared.js";

/** What the filter-file help shows of the format. */
const filterFileHelp = `
A --filter-file lists CloudEvents Subscriptions API filters, all of which must match:
  - prefix: {type: com.example.}
  - any:
      - exact: {source: /shop}
      - suffix: {subject: .png}
  - not: {exact: {subject: test}}
  - sql: "type LIKE 'com.example.%' AND size > 100"`;

/**
 * `dispatch create subscription NAME FUNCTION` (alias `sub`): delivers the
 * broker's events that match the filter flags to a function.
 */
export function createSubscriptionCommand(app: App): Command {
  const command = new Command("subscription")
    .alias("sub")
    .description(
      "Deliver events to a function: each event the filters match runs FUNCTION once (retried when it fails). " +
        "Without filter flags, every event of the org's broker is delivered; with several, an event must match " +
        "them all. The subscription is READY once the event broker delivers it.",
    )
    .argument("<name>", "the subscription's name (a lowercase DNS label)")
    .argument("<function>", "the function that receives the events");
  addSubscriptionOptions(command, "create");
  command.addHelpText("after", filterFileHelp);
  command.action(async (name: string, fn: string, flags: SubscriptionFlags, cmd: Command) => {
    const invalid = nameProblem(name);
    if (invalid) throw new UsageError(invalid);
    const spec = newSubscriptionSpec(fn);
    applySubscriptionFlags(spec, flags, await readFilterFile(app, flags));
    const session = await app.session(cmd);
    const kind = kindByWord("subscription");
    const org = session.orgFor(kind);
    const reporter = createReporter(session);
    const created = await createOrExplain(
      () =>
        session.clients.subscriptions.create({
          subscription: create(SubscriptionSchema, { meta: { name, org }, spec }),
        }),
      `change it with "dispatch update subscription ${name} ..." or "dispatch apply -f FILE"`,
    );
    reporter.report({ kind, name, org, action: "created", object: created.subscription });
    await reporter.finish(cmd.optsWithGlobals<WaitFlags>());
  });
  return examples(command, [
    "dispatch create subscription orders ship-order --event-type com.example.order.created --wait",
    "dispatch create sub audit audit-log --type-prefix com.example. --source /shop --from all",
    "dispatch create sub big-orders notify --filter \"type = 'order.created' AND INT(amount) > 1000\"",
    "dispatch create sub images thumbnail --filter-file filters.yaml --ordered --max-retries 10 --backoff-max 5m",
    "dispatch create sub fire-and-forget metrics --max-retries 0 --no-dead-letter --concurrency 64",
  ]);
}

/**
 * `dispatch update subscription NAME [FUNCTION]`: changes what the flags (and
 * FUNCTION) name and keeps the rest, at the revision it read.
 */
export function updateSubscriptionCommand(app: App): Command {
  const command = new Command("subscription")
    .alias("sub")
    .description(
      "Change a subscription: the function (FUNCTION) and the settings given as flags; everything else is kept. " +
        "--event-type, --type-prefix, --source and --filter replace the filter of their kind and keep the others; " +
        "--filter-file and --all-events replace every filter.",
    )
    .argument("<name>", "the subscription to change")
    .argument("[function]", "the function that receives the events from now on");
  addSubscriptionOptions(command, "update");
  command.addHelpText("after", filterFileHelp);
  command.action(async (name: string, fn: string | undefined, flags: SubscriptionFlags, cmd: Command) => {
    if (flags.from !== undefined) {
      throw new UsageError(
        "--from says where a new subscription starts reading; an existing one reads on from where it is " +
          `(to read from elsewhere, delete it and create it again with --from)`,
      );
    }
    if (fn === undefined && !hasSubscriptionChanges(flags)) {
      throw new UsageError(
        'nothing to change: give a FUNCTION and/or flags such as --event-type (see "dispatch update subscription --help")',
      );
    }
    checkSubscriptionFlags(flags);
    const fileFilters = await readFilterFile(app, flags);
    const session = await app.session(cmd);
    const kind = kindByWord("subscription");
    const org = session.orgFor(kind);
    const current = (await session.clients.subscriptions.get({ org, name })).subscription;
    if (!current) throw new CommandError("the server's response has no subscription");
    const next: Subscription = clone(SubscriptionSchema, current);
    next.spec ??= create(SubscriptionSpecSchema);
    if (fn !== undefined) next.spec.function = fn;
    applySubscriptionFlags(next.spec, flags, fileFilters);
    const reporter = createReporter(session);
    const { action, object } = await updateSpec(
      SubscriptionSpecSchema,
      current,
      next,
      async (subscription) => (await session.clients.subscriptions.update({ subscription })).subscription,
      async () => (await session.clients.subscriptions.get({ org, name })).subscription,
    );
    reporter.report({ kind, name, org, action, object });
    await reporter.finish(cmd.optsWithGlobals<WaitFlags>());
  });
  return examples(command, [
    "dispatch update subscription orders --event-type com.example.order.paid",
    "dispatch update sub orders ship-order-v2 --wait",
    "dispatch update sub audit --max-retries 5 --backoff linear --backoff-delay 10s",
    "dispatch update sub images --no-ordered --concurrency 8",
    "dispatch update sub audit --all-events",
  ]);
}

/** The filters of `--filter-file`, when given. */
async function readFilterFile(app: App, flags: SubscriptionFlags): Promise<Filter[] | undefined> {
  if (flags.filterFile === undefined) return undefined;
  const path = flags.filterFile;
  return parseFilterFile(await app.readInput(path), path === "-" ? "<stdin>" : path);
}
