import type { JsonObject } from "@bufbuild/protobuf";
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from "ajv";
import { RE2JS } from "re2js";

type RegExpEngine = NonNullable<NonNullable<Options["code"]>["regExp"]>;
type RegExpLike = ReturnType<RegExpEngine>;

/** Bounds on the JSON Schemas a function may declare. */
export interface SchemaLimits {
  /** Largest schema, as JSON; default 64 KiB. */
  maxBytes: number;
  /** Deepest nesting of objects and arrays in a schema; default 64. */
  maxDepth: number;
  /**
   * Largest compiled `pattern` (RE2 program size, about one unit per
   * character class or literal after repeats are expanded); default 1000.
   * Matching time grows with the text times this size.
   */
  maxPatternSize: number;
}

/** The built-in schema limits. */
export const defaultSchemaLimits: SchemaLimits = { maxBytes: 64 * 1024, maxDepth: 64, maxPatternSize: 1000 };

/** A stored schema that cannot be used (it was stored before a limit it breaks). */
export class SchemaError extends Error {
  override readonly name = "SchemaError";
}

/**
 * Compiles and caches JSON Schemas (by function uid, generation and
 * direction) and checks values against them, returning every problem.
 *
 * Every cost of a check is bounded by the size of the value: `pattern`,
 * `patternProperties` and `propertyNames` patterns run on RE2 (re2js: linear
 * time, no backtracking, so no pattern can stall the control plane), and
 * `uniqueItems` compares canonical JSON in a set instead of every pair.
 * Patterns RE2 cannot run (backreferences, lookaround) are refused when the
 * function is created, as is a schema past {@link SchemaLimits}.
 */
export class SchemaCheck {
  private readonly ajv: Ajv;
  private readonly cache = new Map<string, ValidateFunction>();
  /** Problems with patterns met by the compile in progress (compiles are synchronous). */
  private patternProblems: string[] = [];
  private readonly limits: SchemaLimits;

  constructor(limits: Partial<SchemaLimits> = {}) {
    this.limits = { ...defaultSchemaLimits, ...limits };
    const engine: RegExpEngine = Object.assign((pattern: string) => this.compilePattern(pattern), {
      code: "re2js",
    });
    // strict: false also keeps Ajv from testing patterns against property
    // names with its own RegExp at compile time (strictSchema's
    // allowMatchingProperties check); every other pattern goes through `engine`.
    this.ajv = new Ajv({ allErrors: true, strict: false, code: { regExp: engine } });
    this.ajv.removeKeyword("uniqueItems");
    this.ajv.addKeyword({
      keyword: "uniqueItems",
      type: "array",
      schemaType: "boolean",
      errors: true,
      validate: uniqueItems,
    });
  }

  /** Every reason the schema cannot be used (empty when it can): not JSON Schema, too large, a pattern RE2 cannot run. */
  problemsOf(schema: JsonObject): string[] {
    const problems: string[] = [];
    const bytes = Buffer.byteLength(JSON.stringify(schema));
    if (bytes > this.limits.maxBytes) {
      problems.push(`is ${bytes} bytes of JSON; the limit is ${this.limits.maxBytes}`);
    }
    const depth = depthOf(schema, this.limits.maxDepth + 1);
    if (depth > this.limits.maxDepth) {
      problems.push(`nests objects and arrays more than ${this.limits.maxDepth} deep (the limit)`);
    }
    if (problems.length > 0) return problems;
    this.patternProblems = [];
    try {
      this.ajv.compile(schema);
    } catch (err) {
      problems.push(`is not a valid JSON Schema: ${(err as Error).message}`);
    } finally {
      this.ajv.removeSchema(schema);
    }
    problems.push(...this.patternProblems);
    this.patternProblems = [];
    return problems;
  }

  /**
   * Problems of `value` against `schema` ("/name must be string"), empty when
   * it matches. Throws {@link SchemaError} when the schema cannot be used.
   */
  check(cacheKey: string, schema: JsonObject, value: unknown): string[] {
    let validate = this.cache.get(cacheKey);
    if (!validate) {
      this.patternProblems = [];
      try {
        validate = this.ajv.compile(schema);
      } finally {
        this.ajv.removeSchema(schema);
      }
      const problems = this.patternProblems;
      this.patternProblems = [];
      if (problems.length > 0) throw new SchemaError(problems.join("; "));
      this.cache.set(cacheKey, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map(
      (e) => `${e.instancePath || "(the value)"} ${e.message ?? "is invalid"}`,
    );
  }

  /** Forgets a function's compiled schemas. */
  forget(prefix: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  /**
   * Ajv's regExp engine: the pattern on RE2. One that RE2 cannot run is
   * recorded as a problem and never matches, so that one compile reports
   * every bad pattern.
   */
  private compilePattern(pattern: string): RegExpLike {
    let re: RE2JS;
    try {
      re = RE2JS.compile(RE2JS.translateRegExp(pattern));
    } catch (err) {
      const why = (err as Error).message.replace(/^error parsing regexp: /, "");
      this.patternProblems.push(
        `pattern ${JSON.stringify(pattern)} cannot be used: ${why} (patterns run on RE2, in linear time: no backreferences or lookaround)`,
      );
      return never(pattern);
    }
    if (re.programSize() > this.limits.maxPatternSize) {
      this.patternProblems.push(
        `pattern ${JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern)} is too large: its RE2 program has ${re.programSize()} instructions; the limit is ${this.limits.maxPatternSize} (use smaller repeat counts)`,
      );
      return never(pattern);
    }
    // Ajv shares compiled patterns by toString(): it must name the pattern.
    return { test: (text: string) => re.test(text), toString: () => `re2:${pattern}` } as RegExpLike;
  }
}

function never(pattern: string): RegExpLike {
  return { test: () => false, toString: () => `re2-refused:${pattern}` } as RegExpLike;
}

/** How deep objects and arrays nest in a JSON value, counting no further than `stop`. */
function depthOf(value: unknown, stop: number): number {
  if (typeof value !== "object" || value === null || stop <= 0) return 0;
  let deepest = 0;
  for (const child of Object.values(value)) {
    deepest = Math.max(deepest, depthOf(child, stop - 1));
    if (deepest >= stop - 1) break;
  }
  return deepest + 1;
}

/**
 * `uniqueItems` in linear time: each item's canonical JSON (object keys
 * sorted) goes into a set. Ajv's own keyword compares every pair of
 * non-scalar items, which a large array turns into minutes.
 */
function uniqueItems(this: unknown, unique: boolean, data: unknown[]): boolean {
  const validate = uniqueItems as typeof uniqueItems & { errors?: Partial<ErrorObject>[] };
  validate.errors = [];
  if (!unique) return true;
  const seen = new Map<string, number>();
  for (const [i, item] of data.entries()) {
    const key = canonicalJson(item);
    const before = seen.get(key);
    if (before !== undefined) {
      validate.errors = [
        {
          keyword: "uniqueItems",
          message: `must NOT have duplicate items (items ## ${before} and ${i} are identical)`,
          params: { i: before, j: i },
        },
      ];
      return false;
    }
    seen.set(key, i);
  }
  return true;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}
