import type { Message } from "@bufbuild/protobuf";
import type { FunctionSpec } from "@dispatch/proto";
import { Command } from "commander";
import type { App, Session } from "../app.js";
import { specsEqual, tagsEqual } from "../diff.js";
import { UsageError } from "../errors.js";
import { readManifestSources, uploadManifestSources } from "../functions/manifest-sources.js";
import { type KindOps, metaOf } from "../kinds/index.js";
import {
  describeManifestKinds,
  documentToObject,
  type ManifestDocument,
  parseManifest,
} from "../manifest.js";
import { rereadOf, type SpecHolder, updateAtReadRevision } from "../update-at-read-revision.js";
import { warnMissingSecrets, warnSecretUsers } from "./secret-references.js";
import {
  addWaitOptions,
  createOrExplain,
  createReporter,
  examples,
  forEachItem,
  isNotFound,
  type Reporter,
  type WaitFlags,
} from "./shared.js";

/** What a manifest command does with each document. */
export type ManifestVerb = "apply" | "create" | "update" | "delete";

/**
 * Reads and validates a whole manifest file, then runs `verb` on each document.
 * Nothing is sent when any document is invalid: the ManifestError lists them all
 * (exit status 2). Deletion goes in reverse file order, so endpoints and
 * subscriptions go before the functions they route to.
 */
export async function runManifest(
  app: App,
  command: Command,
  verb: ManifestVerb,
  file: string,
  flags: WaitFlags & { ignoreNotFound?: boolean; workDir?: string },
): Promise<void> {
  const source = file === "-" ? "<stdin>" : file;
  const text = await app.readInput(file);
  const docs = parseManifest(text, source);
  if (docs.length === 0) throw new UsageError(`${source} holds no objects`);
  const code =
    verb === "delete"
      ? []
      : await readManifestSources(docs, source, {
          manifest: file,
          workDir: flags.workDir,
          cwd: process.cwd(),
        });
  const session = await app.session(command);
  // Every upload before the first change: a refused bundle leaves the server as it was.
  await uploadManifestSources(session.clients, code, (doc) => doc.org || session.orgFor(doc.kind));
  const reporter = createReporter(session);
  const ordered = verb === "delete" ? [...docs].reverse() : docs;
  const deleted: ManifestDocument[] = [];
  try {
    await forEachItem(
      session,
      ordered,
      (doc) => `${doc.kind.singular}/${doc.name} (document ${doc.index}, line ${doc.line})`,
      (doc) =>
        step(session, reporter, verb, doc, { file, ignoreNotFound: flags.ignoreNotFound === true, deleted }),
    );
  } finally {
    // Also when a document failed: the warnings are about what did happen.
    await warnAboutSecrets(session, verb, verb === "delete" ? deleted : docs);
  }
  await reporter.finish(verb === "delete" ? undefined : flags);
}

/**
 * Once every document is done (a manifest may create a function's secret after
 * the function): warns about functions that name secrets that do not exist, or,
 * for delete, about functions that still name a deleted secret (`docs` are then
 * the documents actually deleted).
 */
async function warnAboutSecrets(
  session: Session,
  verb: ManifestVerb,
  docs: ManifestDocument[],
): Promise<void> {
  const orgOf = (doc: ManifestDocument) => doc.org || session.orgFor(doc.kind);
  if (verb !== "delete") {
    for (const doc of docs) {
      if (doc.kind.kind !== "Function") continue;
      await warnMissingSecrets(session, orgOf(doc), doc.name, (doc.spec as FunctionSpec).secrets);
    }
    return;
  }
  const secretsByOrg = new Map<string, string[]>();
  for (const doc of docs) {
    if (doc.kind.kind !== "Secret") continue;
    const org = orgOf(doc);
    secretsByOrg.set(org, [...(secretsByOrg.get(org) ?? []), doc.name]);
  }
  for (const [org, secrets] of secretsByOrg) await warnSecretUsers(session, org, secrets);
}

async function step(
  session: Session,
  reporter: Reporter,
  verb: ManifestVerb,
  doc: ManifestDocument,
  { file, ignoreNotFound, deleted }: { file: string; ignoreNotFound: boolean; deleted: ManifestDocument[] },
): Promise<void> {
  const { kind, name } = doc;
  const org = doc.org || session.orgFor(kind);
  const ops = kind.ops(session.clients);
  const report = (action: "created" | "configured" | "unchanged" | "deleted", object: Message | undefined) =>
    reporter.report({ kind, name, org, action, object });
  const need = <K extends keyof KindOps>(key: K): NonNullable<KindOps[K]> => {
    const fn = ops[key];
    if (!fn) throw new UsageError(`${kind.plural} cannot be ${verb}d`);
    return fn as NonNullable<KindOps[K]>;
  };

  switch (verb) {
    case "create":
      report(
        "created",
        await createOrExplain(
          () => need("create")(documentToObject(doc, org)),
          `change it with "dispatch apply -f ${file}"`,
        ),
      );
      return;
    case "delete":
      try {
        report("deleted", await need("delete")({ org, name }));
        deleted.push(doc);
      } catch (err) {
        if (!(ignoreNotFound && isNotFound(err))) throw err;
      }
      return;
    case "update":
    case "apply": {
      let live: Message | undefined;
      try {
        // Secrets are compared with their values, so ask for them.
        live = await ops.get({ org, name }, { reveal: true });
      } catch (err) {
        if (!(verb === "apply" && isNotFound(err))) throw err;
      }
      if (!live) {
        report("created", await need("create")(documentToObject(doc, org)));
        return;
      }
      const meta = metaOf(live);
      const liveSpec = (live as { spec?: Message }).spec;
      const desired = kind.withServerDefaults?.(doc.spec, liveSpec) ?? doc.spec;
      if (
        kind.specSchema &&
        specsEqual(kind.specSchema, desired, liveSpec) &&
        tagsEqual(doc.tags, meta?.tags ?? {})
      ) {
        report("unchanged", live);
        return;
      }
      // The revision we compared against is the precondition: a concurrent change
      // fails with ABORTED instead of being overwritten (a status write alone does not).
      const updated = await updateAtReadRevision(
        meta?.revision ?? 0n,
        (revision) => need("update")(documentToObject(doc, org, revision)),
        async () =>
          rereadOf(
            kind.specSchema,
            live as SpecHolder,
            (await ops.get({ org, name }, { reveal: true })) as SpecHolder,
          ),
      );
      report("configured", updated);
      return;
    }
  }
}

/** `dispatch apply -f FILE`: create what is missing, update what differs. */
export function createApplyCommand(app: App): Command {
  const command = new Command("apply")
    .summary("Make the server match a manifest (create or update)")
    .description(
      "Create or update objects from a YAML or JSON file so that the server matches it. " +
        `Objects that already match are left alone. Kinds: ${describeManifestKinds()}. ` +
        "A Function may give spec.sourcePath (a file or directory) instead of spec.source: " +
        "the code is packed and uploaded first.",
    )
    .requiredOption(
      "-f, --filename <file>",
      'the manifest file ("-" reads stdin); documents are separated by ---',
    )
    .option(
      "--work-dir <dir>",
      "resolve each Function's spec.sourcePath against this directory (default: the manifest's)",
    );
  addWaitOptions(command);
  command.action(async (options: WaitFlags & { filename: string; workDir?: string }, cmd: Command) => {
    await runManifest(app, cmd, "apply", options.filename, options);
  });
  return examples(command, [
    "dispatch apply -f seed.yaml",
    "dispatch apply -f seed.yaml --wait --timeout 5m",
    "dispatch apply -f deploy/functions.yaml --work-dir .",
    "dispatch get secret db --reveal -o yaml > db.yaml && dispatch apply -f db.yaml",
    "cat seed.yaml | dispatch apply -f -",
  ]);
}
