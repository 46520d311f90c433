import type { Filter } from "@dispatch/proto";
import { compileCesql } from "../cesql/compile.js";
import type { CesqlEvent } from "../cesql/event.js";
import { typeSubjectProblem } from "../store/layout.js";

/**
 * Subscription filters: the CloudEvents Subscriptions API dialects (`exact`,
 * `prefix`, `suffix`, `all`, `any`, `not`, and `sql` for CESQL), checked
 * once when a subscription is written and compiled once per subscription.
 * An event's attributes are compared as strings, case-sensitive; an
 * attribute the event lacks matches no `exact`, `prefix` or `suffix`.
 */

/** One thing wrong with a filter: where (`filters[0].all[1].sql`) and what. */
export interface FilterProblem {
  path: string;
  message: string;
}

/** A CloudEvents attribute or extension name (CloudEvents 1.0 §3.1.1; 20 characters at most, as delivery needs). */
const attributeName = /^[a-z0-9]{1,20}$/;

/** Filters nest at most this deep (a hostile record cannot exhaust the stack). */
export const maxFilterDepth = 32;

/** Every problem in `filters` (under `path`); empty when they can be compiled. */
export function filterProblems(filters: readonly Filter[], path = "filters"): FilterProblem[] {
  const problems: FilterProblem[] = [];
  const add = (at: string, message: string) => problems.push({ path: at, message });
  const visit = (filter: Filter, at: string, depth: number) => {
    if (depth > maxFilterDepth) {
      add(at, `nests deeper than ${maxFilterDepth} levels`);
      return;
    }
    const d = filter.dialect;
    switch (d.case) {
      case undefined:
        add(at, "names no dialect (use exact, prefix, suffix, all, any, not or sql)");
        return;
      case "exact":
      case "prefix":
      case "suffix": {
        const entries = Object.entries(d.value.attributes);
        if (entries.length === 0) {
          add(`${at}.${d.case}`, 'needs at least one attribute (e.g. {"type": "com.example.created"})');
        }
        for (const [name, value] of entries) {
          if (!attributeName.test(name)) {
            add(
              `${at}.${d.case}.${name}`,
              "is not a CloudEvents attribute name (1 to 20 lowercase letters and digits)",
            );
          } else if (value === "") {
            add(`${at}.${d.case}.${name}`, "must not be empty");
          } else if (name === "type" && d.case !== "suffix") {
            // A type filter becomes a consumer's filter subject.
            const problem = typeSubjectProblem(value);
            if (problem) add(`${at}.${d.case}.${name}`, problem);
          }
        }
        return;
      }
      case "all":
      case "any":
        if (d.value.filters.length === 0) add(`${at}.${d.case}`, "needs at least one filter");
        for (const [i, inner] of d.value.filters.entries()) visit(inner, `${at}.${d.case}[${i}]`, depth + 1);
        return;
      case "not":
        visit(d.value, `${at}.not`, depth + 1);
        return;
      case "sql": {
        if (d.value.trim() === "") {
          add(`${at}.sql`, "must not be empty");
          return;
        }
        const compiled = compileCesql(d.value);
        if (!compiled.ok) {
          add(
            `${at}.sql`,
            `is not a valid CESQL expression: ${compiled.errors.map((e) => e.message).join("; ")}`,
          );
        }
        return;
      }
    }
  };
  for (const [i, filter] of filters.entries()) visit(filter, `${path}[${i}]`, 1);
  return problems;
}

/** Decides whether an event (its attributes by name, as strings) passes every filter. */
export type EventMatcher = (attributes: Readonly<Record<string, string>>) => boolean;

/**
 * Compiles filters (ANDed; none matches everything) into one matcher. Throws
 * when they have a problem ({@link filterProblems} says which).
 */
export function compileFilters(filters: readonly Filter[]): EventMatcher {
  const problems = filterProblems(filters);
  if (problems.length > 0) {
    throw new Error(problems.map((p) => `${p.path} ${p.message}`).join("; "));
  }
  const parts = filters.map(compileOne);
  return (attributes) => parts.every((part) => part(attributes));
}

function compileOne(filter: Filter): EventMatcher {
  const d = filter.dialect;
  switch (d.case) {
    case "exact":
      return each(d.value.attributes, (actual, wanted) => actual === wanted);
    case "prefix":
      return each(d.value.attributes, (actual, wanted) => actual.startsWith(wanted));
    case "suffix":
      return each(d.value.attributes, (actual, wanted) => actual.endsWith(wanted));
    case "all": {
      const parts = d.value.filters.map(compileOne);
      return (attributes) => parts.every((part) => part(attributes));
    }
    case "any": {
      const parts = d.value.filters.map(compileOne);
      return (attributes) => parts.some((part) => part(attributes));
    }
    case "not": {
      const inner = compileOne(d.value);
      return (attributes) => !inner(attributes);
    }
    case "sql": {
      const compiled = compileCesql(d.value);
      if (!compiled.ok) throw new Error(compiled.errors.map((e) => e.message).join("; "));
      const expression = compiled.expression;
      return (attributes) => expression.matches(attributes as CesqlEvent);
    }
    default:
      return () => false;
  }
}

function each(
  wanted: Readonly<Record<string, string>>,
  test: (actual: string, wanted: string) => boolean,
): EventMatcher {
  const entries = Object.entries(wanted);
  return (attributes) =>
    entries.every(([name, value]) => {
      const actual = Object.hasOwn(attributes, name) ? attributes[name] : undefined;
      return actual !== undefined && test(actual, value);
    });
}
