import { clone, create } from "@bufbuild/protobuf";
import { type Endpoint, EndpointSchema, EndpointSpecSchema } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import {
  addEndpointOptions,
  applyEndpointFlags,
  type EndpointFlags,
  hasEndpointChanges,
} from "../endpoints/endpoint-flags.js";
import { CommandError, UsageError } from "../errors.js";
import { functionTimeoutMs } from "../functions/function-flags.js";
import { kindByWord } from "../kinds/index.js";
import { nameProblem } from "../manifest.js";
import { updateSpec } from "../update-at-read-revision.js";
import { createOrExplain, createReporter, examples, hideParentTimeout, waitRequested } from "./shared.js";

/**
 * `dispatch create endpoint NAME [FUNCTION]` (alias `api`): publishes a function
 * (or a weighted split, `--backend`) as HTTP routes on the gateway.
 */
export function createEndpointCommand(app: App): Command {
  const command = new Command("endpoint")
    .alias("api")
    .description(
      "Publish a function as an HTTP API on the gateway. Without --host, the default org's paths are served " +
        "as given and other orgs' under /ORG; without --path, at /NAME. The endpoint is READY once every " +
        "gateway serves it; until its function is ready it answers 503.",
    )
    .argument("<name>", "the endpoint's name (a lowercase DNS label)")
    .argument("[function]", "the function that answers (or give --backend FUNCTION=WEIGHT, repeatable)");
  addEndpointOptions(command, "create");
  hideParentTimeout(command);
  command.action(async (name: string, fn: string | undefined, flags: EndpointFlags, cmd: Command) => {
    const invalid = nameProblem(name);
    if (invalid) throw new UsageError(invalid);
    if (fn === undefined && flags.backend === undefined) {
      throw new UsageError("name the FUNCTION that answers, or give --backend FUNCTION=WEIGHT (repeatable)");
    }
    if (fn !== undefined && flags.backend !== undefined) {
      throw new UsageError(
        "give FUNCTION or --backend, not both (a split names every function with --backend)",
      );
    }
    const spec = create(EndpointSpecSchema, { function: fn ?? "", paths: [`/${name}`] });
    await applyEndpointFlags(app, spec, flags, functionTimeoutMs(cmd));
    const session = await app.session(cmd);
    const kind = kindByWord("endpoint");
    const org = session.orgFor(kind);
    const reporter = createReporter(session);
    const created = await createOrExplain(
      () =>
        session.clients.endpoints.create({ endpoint: create(EndpointSchema, { meta: { name, org }, spec }) }),
      `change it with "dispatch update endpoint ${name} ..." or "dispatch apply -f FILE"`,
    );
    reporter.report({ kind, name, org, action: "created", object: created.endpoint });
    await reporter.finish({ wait: waitRequested(cmd), timeout: flags.timeoutWait });
  });
  return examples(command, [
    "dispatch create endpoint hello hello --method GET --path /hello",
    "dispatch create api items items --path '~^/items/[0-9]+$' --cors --rate-limit 100/s",
    "dispatch create endpoint shop --host shop.example.com --path /cart/* --backend cart=90 --backend cart-next=10",
    "dispatch create endpoint private hello --auth jwt --jwt-issuer https://id.example.com --jwks-url https://id.example.com/jwks.json",
  ]);
}

/**
 * `dispatch update endpoint NAME [FUNCTION]`: changes what the flags (and
 * FUNCTION) name and keeps the rest, at the revision it read.
 */
export function updateEndpointCommand(app: App): Command {
  const command = new Command("endpoint")
    .alias("api")
    .description(
      "Change an endpoint: the function (FUNCTION, or --backend for a split) and the settings given as " +
        "flags; everything else is kept. A list flag (--path, --method, --host, --backend) replaces its list.",
    )
    .argument("<name>", "the endpoint to change")
    .argument("[function]", "the function that answers from now on");
  addEndpointOptions(command, "update");
  hideParentTimeout(command);
  command.action(async (name: string, fn: string | undefined, flags: EndpointFlags, cmd: Command) => {
    const timeoutMs = functionTimeoutMs(cmd);
    if (fn === undefined && !hasEndpointChanges(flags, timeoutMs)) {
      throw new UsageError(
        'nothing to change: give a FUNCTION and/or flags such as --path (see "dispatch update endpoint --help")',
      );
    }
    if (fn !== undefined && flags.backend !== undefined) {
      throw new UsageError("give FUNCTION or --backend, not both");
    }
    const session = await app.session(cmd);
    const kind = kindByWord("endpoint");
    const org = session.orgFor(kind);
    const current = (await session.clients.endpoints.get({ org, name })).endpoint;
    if (!current) throw new CommandError("the server's response has no endpoint");
    const next: Endpoint = clone(EndpointSchema, current);
    next.spec ??= create(EndpointSpecSchema);
    if (fn !== undefined) {
      next.spec.function = fn;
      next.spec.backends = [];
    }
    await applyEndpointFlags(app, next.spec, flags, timeoutMs);
    const reporter = createReporter(session);
    const { action, object } = await updateSpec(
      EndpointSpecSchema,
      current,
      next,
      async (endpoint) => (await session.clients.endpoints.update({ endpoint })).endpoint,
      async () => (await session.clients.endpoints.get({ org, name })).endpoint,
    );
    reporter.report({ kind, name, org, action, object });
    await reporter.finish({ wait: waitRequested(cmd), timeout: flags.timeoutWait });
  });
  return examples(command, [
    "dispatch update endpoint hello --path /hello --path /hi",
    "dispatch update api shop --backend cart=50 --backend cart-next=50",
    "dispatch update endpoint hello hello-v2 --https-only",
  ]);
}
