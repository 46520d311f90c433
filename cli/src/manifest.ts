import {
  create,
  type DescEnum,
  type DescField,
  type DescMessage,
  fromJson,
  type JsonValue,
  type Message,
  type MessageInitShape,
} from "@bufbuild/protobuf";
import { isName, maxNameLength, type ObjectMeta, ObjectMetaSchema } from "@dispatch/proto";
import type { Document } from "yaml";
import { UsageError } from "./errors.js";
import { describeKinds, type Kind, kindByManifestName, MANIFEST_KINDS } from "./kinds/index.js";
import { yaml } from "./yaml.js";

/** One validated object from a manifest file, ready to send. */
export interface ManifestDocument {
  /** 1-based position of the YAML document in the file. */
  index: number;
  /** 1-based position inside the document's `items:` list, when it came from one. */
  item?: number;
  /** 1-based line where the object starts. */
  line: number;
  kind: Kind;
  name: string;
  /** `meta.org`; empty means the org from the command line or context. */
  org: string;
  tags: Record<string, string>;
  /** The spec message (`kind.specSchema`). */
  spec: Message;
  /**
   * A Function's `spec.sourcePath` as written: code on this machine that the CLI
   * packs and uploads, then sends as `spec.source`.
   */
  sourcePath?: string;
}

/**
 * A manifest that cannot be applied. `problems` lists every mistake found, each
 * naming its document and line, so one run shows them all.
 */
export class ManifestError extends UsageError {
  override name = "ManifestError";
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super(
      problems.length === 1
        ? `${source}: ${problems[0]}`
        : `${source} has ${problems.length} problems:\n${problems.map((p) => `  ${p}`).join("\n")}`,
    );
    this.problems = problems;
  }
}

/**
 * Checks a resource name; returns the problem in words, or undefined when valid.
 *
 * @example
 * nameProblem("Hello_World"); // 'name "Hello_World" is not valid: use lowercase …'
 */
export function nameProblem(name: string): string | undefined {
  if (isName(name)) return undefined;
  return (
    `name "${name}" is not valid: use lowercase letters, digits and "-", ` +
    `starting and ending with a letter or digit, at most ${maxNameLength} characters`
  );
}

/**
 * Parses a multi-document YAML (or JSON) manifest and validates every document
 * before anything is sent: YAML syntax, known kinds, names, and each spec against
 * its protobuf message (unknown fields are errors). A document may also be a list
 * (`items: [...]`), which is what `dispatch get KIND -o yaml` prints.
 *
 * Pure: the caller reads the file.
 *
 * @param source how to name the file in messages (`seed.yaml`, `<stdin>`).
 * @throws ManifestError listing every problem found.
 */
export function parseManifest(text: string, source: string): ManifestDocument[] {
  const { isScalar, LineCounter, parseAllDocuments } = yaml();
  const lineCounter = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter, prettyErrors: true });
  const docs = Array.isArray(parsed) ? parsed : [];
  const problems: string[] = [];
  const results: ManifestDocument[] = [];
  const line = (offset: number | undefined) => (offset === undefined ? 0 : lineCounter.linePos(offset).line);

  docs.forEach((doc, i) => {
    const index = i + 1;
    if (doc.errors.length > 0) {
      for (const error of doc.errors) {
        const where = error.linePos ? `, line ${error.linePos[0].line}, column ${error.linePos[0].col}` : "";
        problems.push(`document ${index}${where}: ${firstLine(error.message)}`);
      }
      return;
    }
    // An empty document, e.g. after a trailing "---".
    if (doc.contents === null || (isScalar(doc.contents) && doc.contents.value === null)) return;
    const locate = (path: readonly (string | number)[]) => line(nodeOffset(doc, path));
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      problems.push(`document ${index}, line ${locate([])}: ${(err as Error).message}`);
      return;
    }
    if (isRecord(value) && value.kind === undefined && Array.isArray(value.items)) {
      value.items.forEach((item, j) => {
        const at = { index, item: j + 1, path: ["items", j], locate };
        readObject(item, at, problems, results);
      });
      return;
    }
    readObject(value, { index, path: [], locate }, problems, results);
  });

  const seen = new Map<string, ManifestDocument>();
  for (const doc of results) {
    const key = `${doc.kind.kind}/${doc.org}/${doc.name}`;
    const first = seen.get(key);
    if (first) {
      problems.push(
        `${where(doc)}, line ${doc.line}: ${doc.kind.kind} "${doc.name}" is also defined in ` +
          `${where(first)}, line ${first.line}`,
      );
    }
    seen.set(key, doc);
  }
  if (problems.length > 0) throw new ManifestError(source, problems);
  return results;
}

interface Position {
  index: number;
  item?: number;
  /** Where this object sits in its YAML document. */
  path: (string | number)[];
  locate(path: readonly (string | number)[]): number;
}

function where(at: { index: number; item?: number }): string {
  return at.item === undefined ? `document ${at.index}` : `document ${at.index} item ${at.item}`;
}

function readObject(value: unknown, at: Position, problems: string[], results: ManifestDocument[]): void {
  const line = at.locate(at.path);
  let subject = "";
  const problem = (path: readonly (string | number)[], text: string) => {
    const l = at.locate([...at.path, ...path]) || line;
    problems.push(`${where(at)}, line ${l}: ${subject}${text}`);
  };
  const known = `known kinds: ${MANIFEST_KINDS.map((k) => [k.kind, ...k.manifestAliases].join(" or ")).join(", ")}`;

  if (!isRecord(value)) {
    problem([], "expected a mapping with kind, meta and spec");
    return;
  }
  if (typeof value.kind !== "string" || value.kind === "") {
    problem([], `kind is missing (${known})`);
    return;
  }
  const kind = kindByManifestName(value.kind);
  if (!kind?.specSchema) {
    problem(["kind"], `unknown kind "${value.kind}" (${known})`);
    return;
  }

  // Top level: kind, the convenience `name`, and the resource message's fields
  // (meta, spec, and output-only ones like status that apply ignores).
  const topLevel = new Set(["kind", "name", ...kind.schema.fields.flatMap((f) => [f.jsonName, f.name])]);
  for (const key of Object.keys(value)) {
    if (!topLevel.has(key))
      problem([key], `unknown field "${key}" in ${kind.kind} (expected kind, meta, spec)`);
  }

  const meta = value.meta ?? {};
  if (!isRecord(meta)) {
    problem(["meta"], "meta must be a mapping with name, and optionally org and tags");
    return;
  }
  const name = meta.name ?? value.name;
  if (meta.name !== undefined && value.name !== undefined && meta.name !== value.name) {
    problem(["name"], `name "${String(value.name)}" and meta.name "${String(meta.name)}" differ`);
    return;
  }
  if (typeof name !== "string" || name === "") {
    problem([], `${kind.kind} has no name (set meta.name)`);
    return;
  }
  subject = `${kind.kind} "${name}": `;
  const invalidName = nameProblem(name);
  if (invalidName) problem(meta.name === undefined ? ["name"] : ["meta", "name"], invalidName);

  let parsedMeta: ObjectMeta | undefined;
  const metaUnknown = unknownFields(ObjectMetaSchema, meta, ["meta"]);
  for (const path of metaUnknown) problem(path, `unknown field "${formatPath(path)}"`);
  if (metaUnknown.length === 0) {
    try {
      parsedMeta = fromJson(ObjectMetaSchema, meta as JsonValue);
    } catch (err) {
      problem(["meta"], `meta: ${explainDecodeError(ObjectMetaSchema, err)}`);
    }
  }

  let specJson = value.spec ?? {};
  let sourcePath: string | undefined;
  if (kind.kind === "Function" && isRecord(specJson) && specJson.sourcePath !== undefined) {
    const { sourcePath: path, ...rest } = specJson;
    specJson = rest;
    if (typeof path !== "string" || path === "") {
      problem(["spec", "sourcePath"], "spec.sourcePath must be the path of a file or directory");
    } else {
      sourcePath = path;
    }
    if (rest.source !== undefined)
      problem(["spec", "source"], "set spec.source or spec.sourcePath, not both");
  }
  let spec: Message | undefined;
  const specUnknown = unknownFields(kind.specSchema, specJson, ["spec"]);
  for (const path of specUnknown) problem(path, `unknown field "${formatPath(path)}"`);
  if (specUnknown.length === 0) {
    try {
      spec = fromJson(kind.specSchema, specJson as JsonValue);
    } catch (err) {
      problem(["spec"], `spec: ${explainDecodeError(kind.specSchema, err)}`);
    }
  }

  // `get secret -o yaml` without --reveal prints the keys but no values; applying
  // that would silently empty the secret.
  const keys = value.keys;
  const data = isRecord(specJson) ? specJson.data : undefined;
  if (kind.revealable && Array.isArray(keys) && keys.length > 0 && (!isRecord(data) || isEmpty(data))) {
    problem(
      ["keys"],
      `has keys (${keys.join(", ")}) but no values in spec.data: it was printed without --reveal; ` +
        `use "dispatch get ${kind.singular} ${name} --reveal -o yaml"`,
    );
  }

  // Server-owned meta fields (uid, revision, generation, created, modified) are
  // accepted so that `get -o yaml` output applies, and then dropped.
  if (!parsedMeta || !spec || invalidName) return;
  results.push({
    index: at.index,
    ...(at.item === undefined ? {} : { item: at.item }),
    line,
    kind,
    name,
    org: kind.global ? "" : parsedMeta.org,
    tags: parsedMeta.tags,
    spec,
    ...(sourcePath === undefined ? {} : { sourcePath }),
  });
}

/**
 * The paths of JSON keys that are not fields of `desc`, recursing into nested
 * messages, lists and maps. Well-known types (Struct, Duration, Timestamp, …) have
 * their own JSON forms and are left to `fromJson`.
 */
export function unknownFields(
  desc: DescMessage,
  json: unknown,
  path: (string | number)[] = [],
): (string | number)[][] {
  if (!isRecord(json) || desc.typeName.startsWith("google.protobuf.")) return [];
  const found: (string | number)[][] = [];
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) {
      found.push([...path, key]);
      continue;
    }
    found.push(...unknownInField(field, value, [...path, key]));
  }
  return found;
}

function unknownInField(field: DescField, value: unknown, path: (string | number)[]): (string | number)[][] {
  switch (field.fieldKind) {
    case "message":
      return unknownFields(field.message, value, path);
    case "list":
      if (field.listKind !== "message" || !Array.isArray(value)) return [];
      return value.flatMap((item, i) => unknownFields(field.message, item, [...path, i]));
    case "map":
      if (field.mapKind !== "message" || !isRecord(value)) return [];
      return Object.entries(value).flatMap(([k, v]) => unknownFields(field.message, v, [...path, k]));
    default:
      return [];
  }
}

/** Builds the resource message for a manifest document, for Create or Update. */
export function documentToObject(doc: ManifestDocument, org: string, revision = 0n): Message {
  const init = {
    meta: create(ObjectMetaSchema, { name: doc.name, org, tags: doc.tags, revision }),
    spec: doc.spec,
  };
  return create(doc.kind.schema, init as MessageInitShape<DescMessage>);
}

function formatPath(path: readonly (string | number)[]): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/**
 * Rewrites protobuf-es JSON decoding errors ("cannot decode field dispatch.v1.Scale.min
 * from JSON: …") in the words of the manifest: the short field path, what was
 * wrong, and for enums and well-known types what to write instead.
 */
export function explainDecodeError(root: DescMessage, err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const m = /^cannot decode (message|field|enum|oneof) ([\w.]+) from JSON: (.*)$/s.exec(text);
  if (!m) return text;
  const [, what, typeName = "", rest = ""] = m;
  const short = typeName.replace(/^dispatch\.v1\./, "");
  switch (what) {
    case "message":
      if (typeName === "google.protobuf.Duration")
        return `${rest} is not a duration (write e.g. "30s" or "1.5s")`;
      if (typeName === "google.protobuf.Timestamp") {
        return `${rest} is not a timestamp (write RFC 3339, e.g. "2024-05-01T12:00:00Z")`;
      }
      return `${rest} is not a valid ${short}`;
    case "enum": {
      const values = findEnum(root, typeName)?.values.map((v) => v.name) ?? [];
      return `${rest} is not a ${short}${values.length > 0 ? ` (use one of ${values.join(", ")})` : ""}`;
    }
    case "oneof": {
      const multiple = /^oneof set multiple times by (\w+) and (\w+)$/.exec(rest);
      if (multiple) return `${short}: set only one of ${multiple[1]} and ${multiple[2]}`;
      return `${short}: ${rest}`;
    }
    default:
      return `${short}: ${rest}`;
  }
}

function findEnum(desc: DescMessage, typeName: string, seen = new Set<string>()): DescEnum | undefined {
  if (seen.has(desc.typeName)) return undefined;
  seen.add(desc.typeName);
  for (const field of desc.fields) {
    if (field.enum?.typeName === typeName) return field.enum;
    if (field.message) {
      const found = findEnum(field.message, typeName, seen);
      if (found) return found;
    }
  }
  return undefined;
}

function nodeOffset(doc: Document, path: readonly (string | number)[]): number | undefined {
  const { isMap, isScalar } = yaml();
  const parent = path.length > 0 ? doc.getIn(path.slice(0, -1), true) : undefined;
  const last = path[path.length - 1];
  // Point at the key of a mapping entry (that is where an unknown field is written).
  if (isMap(parent)) {
    const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
    if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
  }
  const node = path.length > 0 ? doc.getIn(path, true) : doc.contents;
  if (node && typeof node === "object" && "range" in node && Array.isArray(node.range)) {
    return node.range[0] as number;
  }
  return path.length > 0 ? nodeOffset(doc, path.slice(0, -1)) : doc.range?.[0];
}

function firstLine(message: string): string {
  const line = message.split("\n")[0] ?? message;
  return line.replace(/ at line \d+, column \d+:?$/, "");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isEmpty(value: Record<string, unknown>): boolean {
  return Object.keys(value).length === 0;
}

/** The kinds a manifest may hold, for help texts. */
export function describeManifestKinds(): string {
  return describeKinds(MANIFEST_KINDS);
}
