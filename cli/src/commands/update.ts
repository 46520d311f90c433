import { clone, create } from "@bufbuild/protobuf";
import {
  type Organization,
  OrganizationSchema,
  OrganizationSpecSchema,
  type Secret,
  SecretSchema,
  SecretSpecSchema,
} from "@dispatch/proto";
import { Command } from "commander";
import type { App } from "../app.js";
import { UsageError } from "../errors.js";
import { kindByWord } from "../kinds/index.js";
import { runManifest } from "./apply.js";
import { takesKind } from "./completion.js";
import { updateEndpointCommand } from "./endpoint.js";
import { updateFunctionCommand } from "./function.js";
import { addLiteralOption, readSecretData } from "./secret-data.js";
import { addWaitOptions, createReporter, examples, type WaitFlags } from "./shared.js";
import { updateSubscriptionCommand } from "./subscription.js";

interface UpdateFlags extends WaitFlags {
  filename?: string;
  workDir?: string;
  fromLiteral?: string[];
  displayName?: string;
  description?: string;
}

/**
 * `dispatch update`: replace a secret's data or an organization's description from
 * flags, or update every object of a manifest (`-f`, which fails for objects that do
 * not exist; `apply` creates those).
 */
export function createUpdateCommand(app: App): Command {
  const command = takesKind(new Command("update"))
    .summary(
      "Update objects from a manifest, or a function, endpoint, subscription, secret or org from flags",
    )
    .description(
      "Update objects from a manifest (-f), change a function, endpoint or subscription " +
        "(see update function|endpoint|subscription --help), " +
        "replace a secret's data (same inputs as create secret), " +
        "or change an organization's display name or description",
    )
    .argument("[kind]", "secret or organization (leave out with -f)")
    .argument("[name]", "the object to update")
    .argument("[file]", "for secrets: a flat JSON object of strings, which replaces the data")
    .option("-f, --filename <file>", 'update every object in this manifest ("-" reads stdin)')
    .option(
      "--work-dir <dir>",
      "with -f: resolve sourcePath against this directory (default: the manifest's)",
    )
    .option("--display-name <text>", "for organizations: the new display name")
    .option("--description <text>", "for organizations: the new description");
  addLiteralOption(command);
  addWaitOptions(command);
  command.addCommand(updateFunctionCommand(app));
  command.addCommand(updateEndpointCommand(app));
  command.addCommand(updateSubscriptionCommand(app));
  command.action(
    async (
      word: string | undefined,
      name: string | undefined,
      file: string | undefined,
      flags: UpdateFlags,
      cmd: Command,
    ) => {
      if (flags.filename !== undefined) {
        if (word !== undefined) throw new UsageError("give either -f FILE or KIND NAME, not both");
        await runManifest(app, cmd, "update", flags.filename, flags);
        return;
      }
      if (word === undefined) throw new UsageError("say what to update: KIND NAME or -f FILE");
      const kind = kindByWord(word);
      if (name === undefined) throw new UsageError(`name the ${kind.singular} to update`);
      if (kind.kind === "Secret") {
        const data = await readSecretData(app, file, flags.fromLiteral);
        if (file === undefined && (flags.fromLiteral ?? []).length === 0) {
          throw new UsageError("give the new data as FILE.json and/or --from-literal KEY=VALUE");
        }
        const session = await app.session(cmd);
        const org = session.orgFor(kind);
        const current = (await session.clients.secrets.get({ org, name })).secret ?? create(SecretSchema);
        const secret: Secret = clone(SecretSchema, current);
        secret.spec = create(SecretSpecSchema, { data });
        const reporter = createReporter(session);
        const updated = await session.clients.secrets.update({ secret });
        reporter.report({ kind, name, org, action: "configured", object: updated.secret });
        await reporter.finish(flags);
        return;
      }
      if (kind.kind === "Organization") {
        if (flags.displayName === undefined && flags.description === undefined) {
          throw new UsageError("give --display-name and/or --description");
        }
        const session = await app.session(cmd);
        const current = (await session.clients.organizations.get({ name })).organization;
        const organization: Organization = clone(OrganizationSchema, current ?? create(OrganizationSchema));
        organization.spec ??= create(OrganizationSpecSchema);
        if (flags.displayName !== undefined) organization.spec.displayName = flags.displayName;
        if (flags.description !== undefined) organization.spec.description = flags.description;
        const reporter = createReporter(session);
        const updated = await session.clients.organizations.update({ organization });
        reporter.report({ kind, name, org: "", action: "configured", object: updated.organization });
        await reporter.finish(flags);
        return;
      }
      if (kind.kind === "Function")
        throw new UsageError('use "dispatch update function NAME [PATH] [flags]"');
      if (kind.kind === "Subscription")
        throw new UsageError('use "dispatch update subscription NAME [FUNCTION] [flags]"');
      throw new UsageError(
        `${kind.plural} are updated from a manifest: "dispatch apply -f FILE" (see "dispatch get ${kind.singular} ${name} -o yaml")`,
      );
    },
  );
  return examples(command, [
    "dispatch update function hello hello.js --wait",
    "dispatch update subscription orders --event-type com.example.order.paid",
    "dispatch update secret open-sesame secret.json",
    "dispatch update secret db --from-literal password=n3w",
    'dispatch update org acme --description "the ACME tenant"',
    "dispatch update -f seed.yaml --wait",
  ]);
}
