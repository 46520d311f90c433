import { clone, create } from "@bufbuild/protobuf";
import { type Function as DispatchFunction, FunctionSchema, FunctionSpecSchema } from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { type Bundle, readBundle } from "../functions/bundle.js";
import {
  addFunctionOptions,
  applyFunctionChanges,
  type FunctionFlags,
  functionTimeoutMs,
  hasChanges,
  readFunctionChanges,
} from "../functions/function-flags.js";
import { type BundleShape, inferRuntime, requireHandler } from "../functions/runtime.js";
import { uploadBundle } from "../functions/upload.js";
import { kindByWord } from "../kinds/index.js";
import { nameProblem } from "../manifest.js";
import { updateSpec } from "../update-at-read-revision.js";
import { warnMissingSecrets } from "./secret-references.js";
import { createOrExplain, createReporter, examples, hideParentTimeout, waitRequested } from "./shared.js";

/**
 * `dispatch create function NAME PATH`: packs and uploads the code (a file, or a
 * directory as tar.gz), then creates the function with the returned source.
 * Everything that can be checked here is checked before the upload, and nothing
 * is created when the upload fails.
 */
export function createFunctionCommand(app: App): Command {
  const command = new Command("function")
    .alias("fn")
    .description(
      "Create a function from a file or a directory. A file's extension tells the runtime " +
        "(.js, .mjs, .cjs: nodejs; .py: python3) and it is the handler by default; a directory is " +
        "packed as tar.gz (without .git, with node_modules) and needs --handler.",
    )
    .argument("<name>", "the function's name (a lowercase DNS label)")
    .argument("<path>", "the code: a file, or a directory");
  addFunctionOptions(command, "create");
  hideParentTimeout(command);
  command.action(async (name: string, path: string, flags: FunctionFlags, cmd: Command) => {
    const invalid = nameProblem(name);
    if (invalid) throw new UsageError(invalid);
    const changes = await readFunctionChanges(app, flags, functionTimeoutMs(cmd));
    const bundle = await readBundle(path);
    requireHandler(bundle, flags.handler);
    const runtime = inferRuntime(bundle, flags);

    const session = await app.session(cmd);
    const kind = kindByWord("function");
    const org = session.orgFor(kind);
    const source = await uploadBundle(session.clients, org, bundle);
    const spec = create(FunctionSpecSchema, { runtime, source });
    applyFunctionChanges(spec, changes);
    const reporter = createReporter(session);
    const created = await createOrExplain(
      () =>
        session.clients.functions.create({ function: create(FunctionSchema, { meta: { name, org }, spec }) }),
      `change it with "dispatch update function ${name} ..." or "dispatch apply -f FILE"`,
    );
    reporter.report({ kind, name, org, action: "created", object: created.function });
    await warnMissingSecrets(session, org, name, spec.secrets);
    await reporter.finish({ wait: waitRequested(cmd), timeout: flags.timeoutWait });
  });
  return examples(command, [
    "dispatch create function hello hello.js --wait",
    "dispatch create function hello-py ./hello-py --handler hello.handle --secret open-sesame",
    "dispatch create fn api ./api --runtime nodejs --handler src/index.mjs --env LOG_LEVEL=debug --timeout 10s",
    "dispatch create function checked checked.py --schema-in in.json --schema-out out.json",
  ]);
}

/**
 * `dispatch update function NAME [PATH]`: reads the function, changes what the flags
 * name (re-uploading PATH when given), and updates it at the revision it read, so a
 * concurrent change fails instead of being overwritten.
 */
export function updateFunctionCommand(app: App): Command {
  const command = new Command("function")
    .alias("fn")
    .description(
      "Change a function: new code from PATH and/or the settings given as flags; everything else is kept. " +
        "Each flag replaces its setting (--env replaces all variables, --secret the list). " +
        "--wait waits until the new version is READY.",
    )
    .argument("<name>", "the function to change")
    .argument("[path]", "new code: a file, or a directory (packed and uploaded again)");
  addFunctionOptions(command, "update");
  hideParentTimeout(command);
  command.action(async (name: string, path: string | undefined, flags: FunctionFlags, cmd: Command) => {
    const changes = await readFunctionChanges(app, flags, functionTimeoutMs(cmd));
    const bundle = path === undefined ? undefined : await readBundle(path);
    if (!bundle && !hasChanges(changes) && flags.runtime === undefined) {
      throw new UsageError(
        'nothing to change: give a new PATH and/or flags such as --env (see "dispatch update function --help")',
      );
    }
    const session = await app.session(cmd);
    const kind = kindByWord("function");
    const org = session.orgFor(kind);
    const current = (await session.clients.functions.get({ org, name })).function;
    if (!current) throw new CommandError("the server's response has no function");
    const next: DispatchFunction = clone(FunctionSchema, current);
    next.spec ??= create(FunctionSpecSchema);
    const spec = next.spec;

    if (bundle) {
      const runtime = runtimeForUpdate(bundle, flags, current);
      const handler = flags.handler ?? keptHandler(current, bundle, runtime);
      requireHandler(bundle, handler);
      spec.source = await uploadBundle(session.clients, org, bundle);
      spec.runtime = runtime;
      // Empty: the server applies the default for the new file.
      spec.handler = handler ?? "";
    } else if (flags.runtime !== undefined) {
      spec.runtime = flags.runtime;
    }
    applyFunctionChanges(spec, changes);

    const reporter = createReporter(session);
    const { action, object } = await updateSpec(
      FunctionSpecSchema,
      current,
      next,
      async (fn) => (await session.clients.functions.update({ function: fn })).function,
      async () => (await session.clients.functions.get({ org, name })).function,
    );
    reporter.report({ kind, name, org, action, object });
    await warnMissingSecrets(session, org, name, spec.secrets);
    await reporter.finish({ wait: waitRequested(cmd), timeout: flags.timeoutWait });
  });
  return examples(command, [
    "dispatch update function hello hello.js --wait",
    "dispatch update fn hello --env GREETING=hi --max-scale 4",
    "dispatch update function hello-py ./hello-py --timeout 1m",
  ]);
}

/**
 * The handler to keep when new code comes without --handler. A directory keeps the
 * function's handler; a single file keeps it only when the file name is the same
 * (otherwise the handler named the old file, and the server's default for the new
 * one is right). A handler is never kept across a change of runtime: a directory
 * then needs --handler, a file gets the server's default.
 */
function keptHandler(current: DispatchFunction, bundle: Bundle, runtime: string): string | undefined {
  const spec = current.spec;
  if (!spec?.handler) return undefined;
  if (runtime !== spec.runtime) {
    if (bundle.kind === "file") return undefined;
    throw new UsageError(
      `${bundle.path} holds ${runtime} code, but the handler of ${current.meta?.name ?? "the function"} ` +
        `(${spec.handler}) is for ${spec.runtime}: name the new one with --handler`,
    );
  }
  if (bundle.format !== "file") return spec.handler;
  const old = spec.source;
  return old?.format === "file" && old.filename === bundle.filename ? spec.handler : undefined;
}

/**
 * --runtime, else what the new code tells (a kept handler is not asked: it may
 * name the old code), else the function's runtime.
 */
function runtimeForUpdate(bundle: BundleShape, flags: FunctionFlags, current: DispatchFunction): string {
  try {
    return inferRuntime(bundle, { runtime: flags.runtime, handler: flags.handler });
  } catch (err) {
    const kept = current.spec?.runtime;
    if (flags.runtime === undefined && kept) return kept;
    throw err;
  }
}
