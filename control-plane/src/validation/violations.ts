import { Code, ConnectError } from "@connectrpc/connect";
import { isName, maxNameLength } from "@dispatch/proto";

/** One thing wrong with a request: the field path and what is wrong with it. */
export interface Violation {
  field: string;
  message: string;
}

/**
 * Collects every violation of a request so they are reported together, not
 * one per round trip.
 */
export class Violations {
  readonly list: Violation[] = [];

  add(field: string, message: string): void {
    this.list.push({ field, message });
  }

  get empty(): boolean {
    return this.list.length === 0;
  }

  /** Throws an InvalidArgument ConnectError listing every violation, if there are any. */
  throwIfAny(what: string): void {
    if (this.empty) return;
    throw invalidArgument(what, this.list);
  }
}

/**
 * An InvalidArgument error whose message lists every violation, one per line:
 *
 *   secret "Bad_Name" is invalid:
 *   - meta.name: must be a lowercase DNS label ...
 */
export function invalidArgument(what: string, violations: readonly Violation[]): ConnectError {
  const lines = violations.map((v) => `- ${v.field}: ${v.message}`);
  const error = new ConnectError(`${what} is invalid:\n${lines.join("\n")}`, Code.InvalidArgument);
  return error;
}

/** Checks a resource or org name: a lowercase DNS label of at most 63 characters (`isName`). */
export function checkName(violations: Violations, field: string, name: string): void {
  if (name === "") {
    violations.add(field, "is required");
  } else if (name.length > maxNameLength) {
    violations.add(field, `"${name}" is ${name.length} characters long; the limit is ${maxNameLength}`);
  } else if (!isName(name)) {
    violations.add(
      field,
      `"${name}" is not a valid name: use lowercase letters, digits and '-', starting and ending with a letter or digit (e.g. "${suggestName(name)}")`,
    );
  }
}

/** A valid name close to the given one, to show in error messages. */
export function suggestName(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, maxNameLength)
    .replace(/-+$/g, "");
  return cleaned === "" ? "my-name" : cleaned;
}
