import { arrayAt, isObject, type JsonObject, objectAt, stringAt } from "./json.js";
import { badRequest } from "./status-error.js";

/** One requirement of a label selector. */
export interface LabelRequirement {
  key: string;
  operator: "in" | "notin" | "exists" | "!" | "gt" | "lt";
  values: string[];
}

/** A parsed label selector: every requirement must hold (an empty one selects everything). */
export type LabelSelector = readonly LabelRequirement[];

const keyPattern =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

function checkKey(key: string, selector: string): string {
  if (!keyPattern.test(key) || key.length > 317) {
    throw badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${selector}"`);
  }
  return key;
}

function checkValue(value: string, selector: string): string {
  if (!valuePattern.test(value) || value.length > 63) {
    throw badRequest(`unable to parse requirement: invalid label value "${value}" in selector "${selector}"`);
  }
  return value;
}

/** Splits at commas outside parentheses: `a in (x,y),b` → [`a in (x,y)`, `b`]. */
function splitTerms(text: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      terms.push(text.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(text.slice(start));
  return terms.map((t) => t.trim());
}

function parseRequirement(term: string, text: string): LabelRequirement {
  const not = /^!\s*(\S+)$/.exec(term);
  if (not) return { key: checkKey(not[1] ?? "", text), operator: "!", values: [] };
  const set = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (set) {
    const values = (set[3] ?? "").split(",").map((v) => checkValue(v.trim(), text));
    return { key: checkKey(set[1] ?? "", text), operator: set[2] as "in" | "notin", values };
  }
  const equality = /^([^=!<>\s]+)\s*(==|=|!=)\s*([^=!<>\s]*)$/.exec(term);
  if (equality) {
    const value = checkValue(equality[3] ?? "", text);
    return {
      key: checkKey(equality[1] ?? "", text),
      operator: equality[2] === "!=" ? "notin" : "in",
      values: [value],
    };
  }
  const compare = /^([^=!<>\s]+)\s*([<>])\s*(-?\d+)$/.exec(term);
  if (compare) {
    return {
      key: checkKey(compare[1] ?? "", text),
      operator: compare[2] === ">" ? "gt" : "lt",
      values: [compare[3] ?? ""],
    };
  }
  if (/^[^=!<>\s(),]+$/.test(term)) return { key: checkKey(term, text), operator: "exists", values: [] };
  throw badRequest(`unable to parse requirement: cannot parse "${term}" in label selector "${text}"`);
}

/**
 * Parses a `labelSelector` query parameter with the real server's grammar:
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k>1`, `k<1`,
 * comma-separated. A malformed selector is a 400, as on a real cluster.
 */
export function parseLabelSelector(text: string): LabelSelector {
  if (text.trim() === "") return [];
  const requirements: LabelRequirement[] = [];
  for (const term of splitTerms(text)) requirements.push(parseRequirement(term, text));
  return requirements;
}

/**
 * The selector of an object's `LabelSelector` (matchLabels, matchExpressions),
 * as Deployments and ReplicaSets carry it. An absent selector selects nothing.
 */
export function labelSelectorOf(selector: JsonObject | undefined): LabelSelector | undefined {
  if (!selector) return undefined;
  const requirements: LabelRequirement[] = [];
  const matchLabels = objectAt(selector, "matchLabels") ?? {};
  for (const [key, value] of Object.entries(matchLabels)) {
    requirements.push({ key, operator: "in", values: [String(value)] });
  }
  for (const expression of arrayAt(selector, "matchExpressions")) {
    if (!isObject(expression)) continue;
    const key = stringAt(expression, "key") ?? "";
    const values = arrayAt(expression, "values").map(String);
    const op = stringAt(expression, "operator");
    if (op === "In") requirements.push({ key, operator: "in", values });
    else if (op === "NotIn") requirements.push({ key, operator: "notin", values });
    else if (op === "Exists") requirements.push({ key, operator: "exists", values: [] });
    else if (op === "DoesNotExist") requirements.push({ key, operator: "!", values: [] });
  }
  return requirements;
}

/** The selector of a Service's `spec.selector` map; undefined when it has none (or an empty one). */
export function mapSelectorOf(selector: JsonObject | undefined): LabelSelector | undefined {
  if (!selector || Object.keys(selector).length === 0) return undefined;
  return Object.entries(selector).map(([key, value]) => ({ key, operator: "in", values: [String(value)] }));
}

/** True when the labels satisfy every requirement. */
export function matchesLabels(selector: LabelSelector, labels: JsonObject | undefined): boolean {
  return selector.every((r) => {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const value = has ? String(labels?.[r.key]) : undefined;
    switch (r.operator) {
      case "in":
        return value !== undefined && r.values.includes(value);
      case "notin":
        return value === undefined || !r.values.includes(value);
      case "exists":
        return has;
      case "!":
        return !has;
      case "gt":
      case "lt": {
        const n = Number(value);
        const bound = Number(r.values[0]);
        if (value === undefined || !Number.isInteger(n)) return false;
        return r.operator === "gt" ? n > bound : n < bound;
      }
    }
    return false;
  });
}

/** The selector as the `labelSelector` string a Scale's status.selector carries. */
export function formatLabelSelector(selector: LabelSelector): string {
  return selector
    .map((r) => {
      switch (r.operator) {
        case "in":
          return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(",")})`;
        case "notin":
          return r.values.length === 1
            ? `${r.key}!=${r.values[0]}`
            : `${r.key} notin (${r.values.join(",")})`;
        case "exists":
          return r.key;
        case "!":
          return `!${r.key}`;
        case "gt":
          return `${r.key}>${r.values[0]}`;
        case "lt":
          return `${r.key}<${r.values[0]}`;
      }
      return "";
    })
    .join(",");
}

/** One requirement of a field selector. */
export interface FieldRequirement {
  field: string;
  equals: boolean;
  value: string;
}

/** The fields a field selector may name, per kind beyond metadata.name and metadata.namespace. */
const selectableFields: Record<string, readonly string[]> = {
  Pod: ["spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "status.phase", "status.podIP"],
  Secret: ["type"],
  Event: ["involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "reason", "type"],
};

/**
 * Parses a `fieldSelector` (`metadata.name=x,status.phase!=Running`). As on a
 * real server only some fields are selectable; any other is a 400.
 */
export function parseFieldSelector(text: string, kind: string): FieldRequirement[] {
  if (text.trim() === "") return [];
  const allowed = ["metadata.name", "metadata.namespace", ...(selectableFields[kind] ?? [])];
  return splitTerms(text).map((term) => {
    const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const field = m[1] ?? "";
    if (!allowed.includes(field)) {
      throw badRequest(`field label not supported: ${field} (${kind} allows ${allowed.join(", ")})`);
    }
    return { field, equals: m[2] !== "!=", value: (m[3] ?? "").trim() };
  });
}

/** True when the object satisfies every field requirement. */
export function matchesFields(requirements: readonly FieldRequirement[], object: JsonObject): boolean {
  return requirements.every((r) => {
    let value: unknown = object;
    for (const part of r.field.split(".")) value = isObject(value) ? value[part] : undefined;
    const text = value === undefined || value === null ? "" : String(value);
    return (text === r.value) === r.equals;
  });
}
