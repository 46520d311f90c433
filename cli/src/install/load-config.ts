import { parseDocument } from "yaml";
import { UsageError } from "../errors.js";
import type { InstallConfig } from "./config.js";
import {
  type ConfigViolation,
  installConfigSchema,
  nearest,
  resolveAgainstSchema,
  schemaField,
  schemaPaths,
} from "./config-schema.js";

/**
 * An install config that cannot be used: every violation, each with its
 * field path. The CLI prints them one per line and exits 2.
 */
export class InstallConfigError extends UsageError {
  override name = "InstallConfigError";
  readonly violations: readonly ConfigViolation[];

  constructor(source: string, violations: readonly ConfigViolation[]) {
    super(`${source} is invalid:\n${violations.map((v) => `- ${v.field}: ${v.message}`).join("\n")}`);
    this.violations = violations;
  }
}

/** A value set on the command line: `--namespace x` is `{ path: ["namespace"], value: "x", flag: "--namespace" }`. */
export interface ConfigOverride {
  path: readonly string[];
  value: unknown;
  /** The flag that set it, for messages. */
  flag: string;
}

/** What {@link loadInstallConfig} reads. */
export interface LoadInstallConfigOptions {
  /** The config file's text (YAML or JSON); none means every default. */
  text?: string;
  /** How to name the file in messages; default "the install config". */
  source?: string;
  /** Flag values, applied over the file in order. */
  overrides?: readonly ConfigOverride[];
  /** The default tag of the Dispatch images (the CLI's version). */
  defaultTag: string;
}

/**
 * Reads an install config: the file, then the flags over it, then the
 * defaults; every value checked.
 *
 * @throws InstallConfigError naming every bad field at once
 * @example
 * loadInstallConfig({ text: "namespace: prod\nnats:\n  replicas: 3\n", source: "prod.yaml", defaultTag: "0.1.0" });
 */
export function loadInstallConfig(options: LoadInstallConfigOptions): InstallConfig {
  const source = options.source ?? "the install config";
  const schema = installConfigSchema(options.defaultTag);
  const input = options.text === undefined ? {} : parseConfigText(options.text, source);

  const violations: ConfigViolation[] = [];
  const known = schemaPaths(schema);
  for (const override of options.overrides ?? []) {
    const field = schemaField(schema, override.path);
    if (!field) {
      const path = override.path.join(".");
      const near = nearest(path, known);
      // The settings of the section it names, or the sections.
      const section = known.filter((p) => p.startsWith(`${override.path[0]}.`));
      const listed = section.length > 0 ? section : [...new Set(known.map((p) => p.split(".")[0]))];
      violations.push({
        field: `${override.flag} ${path}`,
        message: `no such setting${near ? `; did you mean "${near}"?` : ""} (there are ${listed.join(", ")})`,
      });
      continue;
    }
    // A list from the command line: "a.example.com,b.example.com".
    const value =
      field.type === "strings" && typeof override.value === "string"
        ? override.value
            .split(",")
            .map((item) => item.trim())
            .filter((item) => item !== "")
        : override.value;
    setPath(input, override.path, value);
  }
  const resolved = resolveAgainstSchema(input, schema);
  violations.push(...resolved.violations);
  if (violations.length > 0) throw new InstallConfigError(source, violations);
  return resolved.config;
}

/** YAML (or JSON) text → a plain value; a syntax error names the line. */
function parseConfigText(text: string, source: string): Record<string, unknown> {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  const error = doc.errors[0];
  if (error) {
    const line = error.linePos?.[0];
    throw new InstallConfigError(source, [
      {
        field: line ? `line ${line.line}` : "(file)",
        message: `not valid YAML: ${error.message.split("\n")[0]}`,
      },
    ]);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new InstallConfigError(source, [
      { field: "(top level)", message: "must be a mapping of settings, such as namespace: dispatch" },
    ]);
  }
  return value as Record<string, unknown>;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== "object" || next === null || Array.isArray(next)) {
      node[key] = {};
    }
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}
