import { dirname, isAbsolute, resolve } from "node:path";
import type { DispatchClients } from "@dispatch/client";
import type { FunctionRuntime, FunctionSpec } from "@dispatch/proto";
import { UsageError } from "../errors.js";
import { type ManifestDocument, ManifestError } from "../manifest.js";
import { type Bundle, readBundle } from "./bundle.js";
import { inferRuntime, requireHandler, type SettingNames } from "./runtime.js";
import { uploadBundle } from "./upload.js";

/** Where relative `sourcePath`s are found. */
export interface SourceBase {
  /** The manifest argument: a file path, or "-" for stdin. */
  manifest: string;
  /** `--work-dir`, which wins over the manifest's directory. */
  workDir?: string | undefined;
  /** For a manifest read from stdin without --work-dir. */
  cwd: string;
}

const FIELD_NAMES: SettingNames = { runtime: "spec.runtime", handler: "spec.handler" };

/**
 * Resolves a manifest's `spec.sourcePath`: an absolute path as it is; a relative
 * one against `--work-dir` when given, else the manifest file's directory, else
 * (stdin) the working directory.
 *
 * @example
 * resolveSourcePath("hello.js", { manifest: "deploy/seed.yaml", cwd: "/src" }); // "/src/deploy/hello.js"
 */
export function resolveSourcePath(sourcePath: string, base: SourceBase): string {
  if (isAbsolute(sourcePath)) return sourcePath;
  const dir = base.workDir ?? (base.manifest === "-" ? "." : dirname(base.manifest));
  return resolve(base.cwd, dir, sourcePath);
}

/** A document's code, read and checked, waiting to be uploaded. */
export interface ManifestSource {
  doc: ManifestDocument;
  bundle: Bundle;
  runtime: FunctionRuntime;
}

/**
 * Reads the code of every Function document that gives `spec.sourcePath` and
 * checks it the way `create function` does (the path exists, a directory names
 * its handler, the runtime is given or can be told). Nothing is sent.
 *
 * @param source how to name the manifest in messages.
 * @throws ManifestError listing every problem, each with its document and line.
 */
export async function readManifestSources(
  docs: readonly ManifestDocument[],
  source: string,
  base: SourceBase,
): Promise<ManifestSource[]> {
  const problems: string[] = [];
  const sources: ManifestSource[] = [];
  for (const doc of docs) {
    if (doc.sourcePath === undefined) continue;
    const spec = doc.spec as FunctionSpec;
    try {
      const bundle = await readBundle(resolveSourcePath(doc.sourcePath, base), doc.sourcePath);
      requireHandler(bundle, spec.handler, FIELD_NAMES);
      const runtime = inferRuntime(bundle, { runtime: spec.runtime, handler: spec.handler }, FIELD_NAMES);
      sources.push({ doc, bundle, runtime });
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      const where =
        doc.item === undefined ? `document ${doc.index}` : `document ${doc.index} item ${doc.item}`;
      problems.push(
        `${where}, line ${doc.line}: ${doc.kind.kind} "${doc.name}": spec.sourcePath: ${err.message}`,
      );
    }
  }
  if (problems.length > 0) throw new ManifestError(source, problems);
  return sources;
}

/**
 * Uploads each document's code and puts the returned Source (and the runtime, when
 * the document left it out) into its spec. Runs before anything is created, so a
 * refused upload leaves the server unchanged.
 */
export async function uploadManifestSources(
  clients: DispatchClients,
  sources: readonly ManifestSource[],
  orgOf: (doc: ManifestDocument) => string,
): Promise<void> {
  for (const { doc, bundle, runtime } of sources) {
    const spec = doc.spec as FunctionSpec;
    spec.source = await uploadBundle(clients, orgOf(doc), bundle);
    spec.runtime = runtime;
  }
}
