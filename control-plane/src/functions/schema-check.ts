import type { JsonObject } from "@bufbuild/protobuf";
import { Ajv, type ValidateFunction } from "ajv";

/**
 * Compiles and caches JSON Schemas (by function uid, generation and
 * direction) and checks values against them, returning every problem.
 */
export class SchemaCheck {
  private readonly ajv = new Ajv({ allErrors: true, strict: false });
  private readonly cache = new Map<string, ValidateFunction>();

  /** Returns undefined when the schema is valid JSON Schema, else what is wrong with it. */
  compileError(schema: JsonObject): string | undefined {
    try {
      this.ajv.compile(schema);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** Problems of `value` against `schema` ("/name must be string"), empty when it matches. */
  check(cacheKey: string, schema: JsonObject, value: unknown): string[] {
    let validate = this.cache.get(cacheKey);
    if (!validate) {
      validate = this.ajv.compile(schema);
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
}
