/**
 * The CloudEvents SQL Expression Language TCK (the `cesql_tck` of the cloudevents/spec repository), run case
 * by case: each case is its own test, titled `cesql TCK: <file> › <case>`.
 *
 * The TCK is read in place from the project's `../shared/conformance/cesql-tck/` (looked for beside the
 * repository and beside each folder above it, since a git worktree sits deeper), or from `$CESQL_TCK_DIR`.
 * When it is absent, one test says so and nothing else runs.
 *
 * Each case is checked twice: through `evaluateCesql` (parse and evaluate, as the TCK describes) and through
 * `compileCesql` then `evaluate`/`matches`, which must agree (and reject exactly the cases whose error is
 * `parse` or `missingFunction`). Deviations from the spec that the TCK forces are listed in
 * `cesql-known-gaps.md`.
 */

import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import test, { type ExecutionContext } from "ava";
import { parse } from "yaml";
import {
  CesqlCastError,
  type CesqlError,
  type CesqlEvent,
  CesqlFunctionEvaluationError,
  CesqlGenericError,
  CesqlMathError,
  CesqlMissingAttributeError,
  CesqlMissingFunctionError,
  CesqlParseError,
  type CesqlResult,
  type CesqlValue,
  compileCesql,
  evaluateCesql,
} from "../src/index.js";

const errorClasses = {
  parse: CesqlParseError,
  math: CesqlMathError,
  cast: CesqlCastError,
  missingFunction: CesqlMissingFunctionError,
  functionEvaluation: CesqlFunctionEvaluationError,
  missingAttribute: CesqlMissingAttributeError,
  generic: CesqlGenericError,
} as const;

type ErrorKind = keyof typeof errorClasses;

interface TckCase {
  readonly name: string;
  readonly expression: string;
  readonly result?: CesqlValue;
  readonly error?: ErrorKind;
  readonly event: CesqlEvent;
}

/** The event a case runs against when it gives no `event`: the required attributes only. */
const baseEvent: CesqlEvent = {
  specversion: "1.0",
  id: "tck-event",
  source: "https://tck.example/source",
  type: "tck.example.type",
};

function findTckDir(): { dir: string | undefined; looked: string[] } {
  const fromEnv = process.env.CESQL_TCK_DIR;
  if (fromEnv !== undefined && fromEnv !== "") {
    return { dir: existsSync(fromEnv) ? fromEnv : undefined, looked: [fromEnv] };
  }
  const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
  const looked: string[] = [];
  let folder = path.dirname(path.resolve(repoRoot));
  for (;;) {
    const candidate = path.join(folder, "shared", "conformance", "cesql-tck");
    looked.push(candidate);
    if (existsSync(candidate)) return { dir: candidate, looked };
    const parent = path.dirname(folder);
    if (parent === folder) return { dir: undefined, looked };
    folder = parent;
  }
}

/** The cases of one TCK file. */
function readCases(file: string): TckCase[] {
  const text = readFileSync(file, "utf8");
  // Expressions are read with the failsafe schema, which keeps every scalar as the string written, so that
  // `expression: TRUE` or `expression: -10` reach the parser as written rather than as YAML's boolean or number.
  const typed = parse(text) as { tests: Record<string, unknown>[] };
  const raw = parse(text, { schema: "failsafe" }) as { tests: Record<string, string>[] };
  return typed.tests.map((entry, i) => {
    const expression = raw.tests[i]?.expression;
    if (typeof expression !== "string") throw new Error(`${file}: case ${i} has no expression`);
    const error = entry.error as string | undefined;
    if (error !== undefined && !(error in errorClasses))
      throw new Error(`${file}: unknown error kind ${error}`);
    return {
      name: String(entry.name),
      expression,
      ...("result" in entry ? { result: entry.result as CesqlValue } : {}),
      ...(error !== undefined ? { error: error as ErrorKind } : {}),
      event: eventOf(entry, file),
    };
  });
}

/** A case's event as an attribute map: `event` (JSON format, data left out), or the base event with `eventOverrides`. */
function eventOf(entry: Record<string, unknown>, file: string): CesqlEvent {
  const given = (entry.event ?? { ...baseEvent, ...(entry.eventOverrides as object | undefined) }) as Record<
    string,
    unknown
  >;
  const event: Record<string, CesqlValue> = {};
  for (const [name, value] of Object.entries(given)) {
    if (name === "data" || name === "data_base64") continue;
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw new Error(
        `${file}: attribute ${name} of case ${String(entry.name)} is not a string, number or boolean`,
      );
    }
    event[name] = value;
  }
  return event;
}

/** Checks one evaluation against the case: the errors' kinds exactly, and the value when the case gives one. */
function checkResult(t: ExecutionContext, tck: TckCase, result: CesqlResult, via: string): void {
  if (tck.error === undefined) {
    t.deepEqual(
      result.errors.map((e) => e.message),
      [],
      `${via}: no error expected`,
    );
  } else {
    const expected = errorClasses[tck.error];
    t.true(result.errors.length > 0, `${via}: a ${tck.error} error expected, none reported`);
    for (const error of result.errors) {
      t.true(
        error instanceof expected,
        `${via}: expected only ${tck.error} errors, got ${error.name}: ${error.message}`,
      );
    }
  }
  if (tck.result !== undefined) t.is(result.value, tck.result, `${via}: value`);
}

function checkCompiled(t: ExecutionContext, tck: TckCase, direct: CesqlResult): void {
  const compiled = compileCesql(tck.expression);
  if (tck.error === "parse" || tck.error === "missingFunction") {
    t.false(compiled.ok, "compileCesql must reject the expression");
    if (!compiled.ok) {
      for (const error of compiled.errors) t.true(error instanceof errorClasses[tck.error], error.message);
      t.true(
        compiled.errors.every((e: CesqlError) => e.position !== undefined),
        "a compile error names its position",
      );
    }
    return;
  }
  if (!compiled.ok) {
    t.fail(`compileCesql rejected it: ${compiled.errors.map((e) => e.message).join("; ")}`);
    return;
  }
  const result = compiled.expression.evaluate(tck.event);
  checkResult(t, tck, result, "compileCesql + evaluate");
  t.is(result.value, direct.value, "compiled and direct evaluation agree");
  t.is(
    compiled.expression.matches(tck.event),
    result.value === true && result.errors.length === 0,
    "matches()",
  );
}

const { dir, looked } = findTckDir();

if (dir === undefined) {
  test("cesql TCK: the TCK folder is absent, so no TCK case ran", (t) => {
    const message = `CESQL TCK not found (looked in ${looked.join(", ")}); set CESQL_TCK_DIR to run it`;
    console.log(message);
    t.log(message);
    t.pass();
  });
} else {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort();
  let count = 0;
  for (const file of files) {
    const seen = new Set<string>();
    for (const tck of readCases(path.join(dir, file))) {
      let title = `cesql TCK: ${file} › ${tck.name}`;
      while (seen.has(title)) title += " (again)";
      seen.add(title);
      count++;
      test(title, (t) => {
        const direct = evaluateCesql(tck.expression, tck.event);
        checkResult(t, tck, direct, "evaluateCesql");
        checkCompiled(t, tck, direct);
      });
    }
  }
  test("cesql TCK: every file of the TCK was read and has cases", (t) => {
    t.log(`${count} TCK cases in ${files.length} files from ${dir}`);
    t.true(files.length > 0, "the TCK folder has no YAML files");
    t.true(count >= files.length, "a TCK file had no cases");
  });
}
