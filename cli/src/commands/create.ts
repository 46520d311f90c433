import { create, type JsonObject, toJson } from "@bufbuild/protobuf";
import { OrganizationSchema, Role, SecretSchema, TokenSchema } from "@dispatch/proto";
import { Argument, Command, Option } from "commander";
import type { App } from "../app.js";
import { CommandError, UsageError } from "../errors.js";
import { kindByWord, roleName } from "../kinds/index.js";
import { renderJson, renderYaml } from "../output/format.js";
import { runManifest } from "./apply.js";
import { createEndpointCommand } from "./endpoint.js";
import { createFunctionCommand } from "./function.js";
import { addLiteralOption, readSecretData } from "./secret-data.js";
import { addWaitOptions, createOrExplain, createReporter, examples, type WaitFlags } from "./shared.js";
import { createSubscriptionCommand } from "./subscription.js";

/**
 * `dispatch create`: from a manifest (`-f FILE`), or one object from flags
 * (`create function|secret|organization|token NAME`).
 */
export function createCreateCommand(app: App): Command {
  const command = new Command("create")
    .summary("Create objects from a manifest, or a function, endpoint, subscription, secret, org or token")
    .description(
      "Create objects from a manifest file, or one function, endpoint, subscription, secret, organization or token from flags",
    )
    .addArgument(new Argument("[kind]", "with -f, leave out; otherwise use a subcommand"))
    .allowExcessArguments()
    .option("-f, --filename <file>", 'create every object in this manifest ("-" reads stdin)')
    .option(
      "--work-dir <dir>",
      "with -f: resolve sourcePath against this directory (default: the manifest's)",
    );
  // --wait and --timeout live here, not on the subcommands: commander gives a
  // parent's options to the parent wherever they appear, and the subcommands read
  // them with optsWithGlobals (their help lists them under "Global Options").
  addWaitOptions(command);
  command.action(
    async (
      kind: string | undefined,
      options: WaitFlags & { filename?: string; workDir?: string },
      cmd: Command,
    ) => {
      if (kind !== undefined) {
        const known = kindByWord(kind); // unknown words fail with the list of kinds
        if (known.kind === "Function") throw new UsageError('use "dispatch create function NAME PATH"');
        if (known.kind === "Endpoint") throw new UsageError('use "dispatch create endpoint NAME FUNCTION"');
        if (known.kind === "Subscription") {
          throw new UsageError('use "dispatch create subscription NAME FUNCTION [--event-type TYPE]"');
        }
        throw new UsageError(
          `${known.plural} cannot be created from flags yet: write a manifest and run "dispatch apply -f FILE" ` +
            "(create from flags supports function, endpoint, subscription, secret, organization and token)",
        );
      }
      if (!options.filename)
        throw new UsageError('give a manifest with -f FILE, or see "dispatch create --help"');
      await runManifest(app, cmd, "create", options.filename, options);
    },
  );
  command.addCommand(createFunctionCommand(app));
  command.addCommand(createEndpointCommand(app));
  command.addCommand(createSubscriptionCommand(app));
  command.addCommand(createSecretCommand(app));
  command.addCommand(createOrganizationCommand(app));
  command.addCommand(createTokenCommand(app));
  return examples(command, [
    "dispatch create -f seed.yaml",
    "dispatch create function hello hello.js --wait",
    "dispatch create endpoint hello hello --path /hello --method GET",
    "dispatch create subscription orders ship-order --event-type com.example.order.created",
    "dispatch create secret open-sesame --from-literal password=s3cret",
    "dispatch create organization acme",
    "dispatch create token ci --org acme",
  ]);
}

function createSecretCommand(app: App): Command {
  const command = new Command("secret")
    .description("Create a secret from a flat JSON file of strings and/or --from-literal values")
    .argument("<name>", "the secret's name (a lowercase DNS label)")
    .argument("[file]", 'a JSON object of strings, e.g. {"password": "s3cret"} ("-" reads stdin)');
  addLiteralOption(command);
  command.action(
    async (name: string, file: string | undefined, options: { fromLiteral?: string[] }, cmd: Command) => {
      const data = await readSecretData(app, file, options.fromLiteral);
      const session = await app.session(cmd);
      const kind = kindByWord("secret");
      const org = session.orgFor(kind);
      const secret = create(SecretSchema, { meta: { name, org }, spec: { data } });
      const reporter = createReporter(session);
      const created = await createOrExplain(
        () => session.clients.secrets.create({ secret }),
        `replace its data with "dispatch update secret ${name} --from-literal KEY=VALUE" (or FILE.json)`,
      );
      reporter.report({ kind, name, org, action: "created", object: created.secret });
      await reporter.finish(cmd.optsWithGlobals<WaitFlags>());
    },
  );
  return examples(command, [
    "dispatch create secret open-sesame secret.json",
    "dispatch create secret db --from-literal user=app --from-literal password=s3cret",
    'echo \'{"token": "abc"}\' | dispatch create secret api-key -',
  ]);
}

function createOrganizationCommand(app: App): Command {
  const command = new Command("organization")
    .alias("org")
    .description("Create an organization: a tenant that holds its own functions, endpoints and secrets")
    .argument("<name>", "the organization's name (a lowercase DNS label)")
    .option("--display-name <text>", "a human-friendly name")
    .option("--description <text>", "what the organization is for");
  command.action(
    async (name: string, options: { displayName?: string; description?: string }, cmd: Command) => {
      const session = await app.session(cmd);
      const kind = kindByWord("organization");
      const organization = create(OrganizationSchema, {
        meta: { name },
        spec: { displayName: options.displayName ?? "", description: options.description ?? "" },
      });
      const reporter = createReporter(session);
      const created = await createOrExplain(
        () => session.clients.organizations.create({ organization }),
        `change it with "dispatch update organization ${name} --display-name TEXT --description TEXT"`,
      );
      reporter.report({ kind, name, org: "", action: "created", object: created.organization });
      await reporter.finish(cmd.optsWithGlobals<WaitFlags>());
    },
  );
  return examples(command, [
    "dispatch create organization acme",
    'dispatch create org acme --display-name "ACME Inc."',
  ]);
}

/** The roles `create token --role` accepts. */
const tokenRoles: Record<string, Role> = {
  member: Role.ORG_MEMBER,
  admin: Role.ADMIN,
  component: Role.COMPONENT,
};

function createTokenCommand(app: App): Command {
  const command = new Command("token")
    .description(
      "Create an API token and print its secret. The secret is shown only this once: the server keeps a hash. " +
        "A member token acts in the org given by --org (or the context's org); admin and component tokens act in every org.",
    )
    .argument("<name>", "the token's name (a lowercase DNS label)")
    .addOption(
      new Option(
        "--role <role>",
        "member: everything in one org; admin: everything in every org, including tokens and organizations; " +
          "component: reads every org and writes status, for the platform's components (xds-server, broker, gateway)",
      )
        .choices(Object.keys(tokenRoles))
        .default("member"),
    )
    .option("--admin", "the same as --role admin");
  command.action(async (name: string, options: { admin?: boolean; role: string }, cmd: Command) => {
    if (options.admin && cmd.getOptionValueSource("role") !== "default" && options.role !== "admin") {
      throw new UsageError(`--admin and --role ${options.role} disagree: pass one of them`);
    }
    const session = await app.session(cmd);
    const role = options.admin ? Role.ADMIN : (tokenRoles[options.role] ?? Role.ORG_MEMBER);
    const org = role === Role.ORG_MEMBER ? session.settings.org : "";
    const { token, secret } = await createOrExplain(
      () => session.clients.tokens.create({ name, org, role }),
      `tokens cannot be changed: pick another name, or revoke it first with "dispatch delete token ${name}"`,
    );
    if (!token || !secret) throw new CommandError("the server's response has no token");
    const format = session.settings.output;
    if (format === "table") {
      const scope = token.org ? `in org "${token.org}"` : "in every org";
      session.io.stderr(
        `token/${token.name} created (${roleName(token.role)} ${scope}); its secret, shown only now:\n`,
      );
      session.io.stdout(`${secret}\n`);
      return;
    }
    const value: JsonObject = { kind: "Token", ...(toJson(TokenSchema, token) as JsonObject), secret };
    session.io.stdout(format === "json" ? renderJson(value) : renderYaml(value));
  });
  return examples(command, [
    "dispatch create token ci --org acme",
    "dispatch create token ops --role admin",
    "dispatch create token xds --role component",
    "TOKEN=$(dispatch create token ci) && dispatch context set ci --server http://127.0.0.1:8080 --token $TOKEN",
  ]);
}
