import {
  type DescEnum,
  type DescField,
  type DescMessage,
  type DescOneof,
  getOption,
  hasOption,
  type Message,
  type Registry,
} from "@bufbuild/protobuf";
import { type ReflectMessage, reflect } from "@bufbuild/protobuf/reflect";
import { type Any, anyUnpack } from "@bufbuild/protobuf/wkt";
import {
  registry as envoyRegistry,
  type FieldRules,
  validateDisabled,
  validateRequired,
  validateRules,
} from "@dispatch/proto/envoy";
import { type SetRules, setRules } from "./rule-values.js";
import { checkBool, checkBytes, checkEnum, checkNumber, checkRange, checkString } from "./scalar-rules.js";

/** One broken rule: where (a field path in proto names) and what. */
export interface Violation {
  /** `virtual_hosts[0].routes[2].match.safe_regex.regex`; "" for the message itself. */
  path: string;
  message: string;
}

/** The most violations one check reports: a broken resource says enough long before this. */
export const maxViolations = 100;

/**
 * Checks a message against the protoc-gen-validate rules its descriptors carry
 * (`(validate.rules)` on fields, `(validate.required)` on oneofs,
 * `(validate.disabled)` on messages), as Envoy does before accepting a
 * resource. Messages are walked through every set field, and a
 * `google.protobuf.Any` is unpacked with `registry` and walked too, as Envoy
 * checks the typed config of each extension when it loads it; an Any of a type
 * the registry does not know is a violation, since Envoy would not know it
 * either.
 *
 * @example
 * checkMessage(ClusterSchema, create(ClusterSchema, { name: "" }));
 * // → [{ path: "name", message: "must be at least 1 character long" }, …]
 */
export function checkMessage(
  schema: DescMessage,
  message: Message,
  registry: Registry = envoyRegistry,
  memo?: CheckMemo,
): Violation[] {
  const out: Violation[] = [];
  walkMessage(reflect(schema, message), "", { registry, out, memo });
  return out;
}

/**
 * Verdicts to reuse for messages of some types met inside the one checked,
 * by object identity: a translator that reuses the messages of what did not
 * change (e.g. each Route of a large RouteConfiguration) gets them checked
 * once. A verdict holds paths relative to its message.
 */
export interface CheckMemo {
  /** Full names of the message types whose verdicts are kept (e.g. `envoy.config.route.v3.Route`). */
  types: ReadonlySet<string>;
  verdicts: WeakMap<object, Violation[]>;
}

interface Walk {
  registry: Registry;
  out: Violation[];
  memo?: CheckMemo | undefined;
}

function report(walk: Walk, path: string, message: string): void {
  if (walk.out.length < maxViolations) walk.out.push({ path, message });
}

function join(path: string, name: string): string {
  return path === "" ? name : `${path}.${name}`;
}

// Options are decoded from the descriptors on every getOption: read each once.
const fieldRules = new WeakMap<DescField, FieldRules | null>();
const messageDisabled = new WeakMap<DescMessage, boolean>();
const requiredOneofs = new WeakMap<DescMessage, DescOneof[]>();

function rulesOf(field: DescField): FieldRules | undefined {
  let rules = fieldRules.get(field);
  if (rules === undefined) {
    rules = hasOption(field, validateRules) ? getOption(field, validateRules) : null;
    fieldRules.set(field, rules);
  }
  return rules ?? undefined;
}

function isDisabled(desc: DescMessage): boolean {
  let disabled = messageDisabled.get(desc);
  if (disabled === undefined) {
    disabled = hasOption(desc, validateDisabled) && getOption(desc, validateDisabled);
    messageDisabled.set(desc, disabled);
  }
  return disabled;
}

function oneofsRequired(desc: DescMessage): DescOneof[] {
  let oneofs = requiredOneofs.get(desc);
  if (!oneofs) {
    oneofs = desc.oneofs.filter((o) => hasOption(o, validateRequired) && getOption(o, validateRequired));
    requiredOneofs.set(desc, oneofs);
  }
  return oneofs;
}

function walkMessage(msg: ReflectMessage, path: string, walk: Walk): void {
  const desc = msg.desc;
  if (walk.out.length >= maxViolations) return;
  if (isDisabled(desc)) return;
  const memo = walk.memo;
  if (memo && path !== "" && memo.types.has(desc.typeName)) {
    let verdict = memo.verdicts.get(msg.message);
    if (!verdict) {
      verdict = [];
      walkMessage(msg, "", { registry: walk.registry, out: verdict, memo });
      memo.verdicts.set(msg.message, verdict);
    }
    for (const v of verdict) report(walk, v.path === "" ? path : join(path, v.path), v.message);
    return;
  }
  for (const oneof of oneofsRequired(desc)) {
    if (!msg.oneofCase(oneof)) {
      report(
        walk,
        join(path, oneof.name),
        `one of ${oneof.fields.map((f) => f.name).join(", ")} is required`,
      );
    }
  }
  for (const field of desc.fields) {
    // PGV checks a oneof member only when it is the one set.
    if (field.oneof && msg.oneofCase(field.oneof) !== field) continue;
    const rules = rulesOf(field);
    const at = join(path, field.name);
    switch (field.fieldKind) {
      case "scalar":
        // Fields with explicit presence are checked only when set (proto3 `optional`).
        if (field.presence === EXPLICIT && !msg.isSet(field)) continue;
        checkScalar(msg.get(field), rules, at, walk);
        break;
      case "enum":
        if (field.presence === EXPLICIT && !msg.isSet(field)) continue;
        checkEnumValue(msg.get(field), field.enum, rules, at, walk);
        break;
      case "message":
        checkMessageField(msg, field, rules, at, walk);
        break;
      case "list":
        checkList(msg, field, rules, at, walk);
        break;
      case "map":
        checkMap(msg, field, rules, at, walk);
        break;
    }
  }
}

// FeatureSet.FieldPresence.EXPLICIT.
const EXPLICIT = 1;

function checkScalar(value: unknown, rules: FieldRules | undefined, at: string, walk: Walk): void {
  const kind = rules?.type;
  if (!kind?.case) return;
  const set = setRules(kind.value as Message, walk.registry);
  let problem: string | undefined;
  switch (kind.case) {
    case "string":
      problem = checkString(value as string, set);
      break;
    case "bytes":
      problem = checkBytes(value as Uint8Array, set);
      break;
    case "bool":
      problem = checkBool(value as boolean, set);
      break;
    case "float":
    case "double":
    case "int32":
    case "int64":
    case "uint32":
    case "uint64":
    case "sint32":
    case "sint64":
    case "fixed32":
    case "fixed64":
    case "sfixed32":
    case "sfixed64":
      problem = checkNumber(toNumeric(value), set);
      break;
    default:
      return;
  }
  if (problem) report(walk, at, problem);
}

function toNumeric(value: unknown): number | bigint {
  if (typeof value === "bigint" || typeof value === "number") return value;
  // 64-bit values read as strings (jstype = JS_STRING).
  return BigInt(String(value));
}

const definedValues = new WeakMap<DescEnum, Set<number>>();

function checkEnumValue(
  value: number,
  desc: DescEnum,
  rules: FieldRules | undefined,
  at: string,
  walk: Walk,
): void {
  if (rules?.type.case !== "enum") return;
  let defined = definedValues.get(desc);
  if (!defined) {
    defined = new Set(desc.values.map((v) => v.number));
    definedValues.set(desc, defined);
  }
  const problem = checkEnum(value, setRules(rules.type.value, walk.registry), defined);
  if (problem) report(walk, at, problem);
}

const wrapperTypes = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

function checkMessageField(
  msg: ReflectMessage,
  field: DescField & { fieldKind: "message" },
  rules: FieldRules | undefined,
  at: string,
  walk: Walk,
): void {
  const isSet = msg.isSet(field);
  const typeRules = rules?.type;
  const required =
    rules?.message?.required === true ||
    ((typeRules?.case === "duration" || typeRules?.case === "timestamp" || typeRules?.case === "any") &&
      typeRules.value.required);
  if (!isSet) {
    if (required) report(walk, at, "is required");
    return;
  }
  const value = msg.get(field);
  const typeName = field.message.typeName;
  if (wrapperTypes.has(typeName)) {
    // Rules on a wrapper apply to the value it wraps.
    const inner = value.desc.fields[0];
    if (inner) checkScalar(value.get(inner), rules, at, walk);
    return;
  }
  if (typeRules?.case === "duration" && typeName === "google.protobuf.Duration") {
    checkDurationOrTimestamp(
      value.message as Message & Instant,
      setRules(typeRules.value, walk.registry),
      at,
      walk,
      "s",
    );
    return;
  }
  if (typeRules?.case === "timestamp" && typeName === "google.protobuf.Timestamp") {
    checkDurationOrTimestamp(
      value.message as Message & Instant,
      setRules(typeRules.value, walk.registry),
      at,
      walk,
      "",
    );
    return;
  }
  if (typeName === "google.protobuf.Any") {
    const any = value.message as Any;
    if (typeRules?.case === "any") {
      const set = setRules(typeRules.value, walk.registry);
      const list = (name: string) => (set.get(name) as string[] | undefined) ?? [];
      if (set.has("in") && !list("in").includes(any.typeUrl)) {
        report(walk, at, `must be one of the types ${list("in").join(", ")}`);
      }
      if (list("not_in").includes(any.typeUrl)) report(walk, at, `must not be of type ${any.typeUrl}`);
    }
    if (rules?.message?.skip) return;
    walkAny(any, at, walk);
    return;
  }
  if (rules?.message?.skip || typeName.startsWith("google.protobuf.")) return;
  walkMessage(value, at, walk);
}

function walkAny(any: Any, at: string, walk: Walk): void {
  let unpacked: Message | undefined;
  try {
    unpacked = anyUnpack(any, walk.registry);
  } catch (err) {
    report(walk, at, `holds a ${any.typeUrl} that does not decode: ${(err as Error).message}`);
    return;
  }
  if (!unpacked) {
    report(walk, at, `holds a type this server does not know (${JSON.stringify(any.typeUrl)})`);
    return;
  }
  const desc = walk.registry.getMessage(unpacked.$typeName);
  if (desc) walkMessage(reflect(desc, unpacked), at, walk);
}

interface Instant {
  seconds: bigint;
  nanos: number;
}

function checkDurationOrTimestamp(value: Instant, set: SetRules, at: string, walk: Walk, unit: string): void {
  const nanos = (v: Instant) => v.seconds * 1_000_000_000n + BigInt(v.nanos);
  const cmp = (a: Instant, b: Instant) => {
    const x = nanos(a);
    const y = nanos(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  const show = (v: Instant) =>
    unit === "s" ? `${Number(nanos(v)) / 1e9}s` : new Date(Number(nanos(v) / 1_000_000n)).toISOString();
  if (set.has("const") && cmp(value, set.get("const") as Instant) !== 0) {
    report(walk, at, `must equal ${show(set.get("const") as Instant)}`);
    return;
  }
  const list = (name: string) => (set.get(name) as Instant[] | undefined) ?? [];
  if (set.has("in") && !list("in").some((v) => cmp(value, v) === 0)) {
    report(walk, at, `must be one of ${list("in").map(show).join(", ")}`);
    return;
  }
  if (list("not_in").some((v) => cmp(value, v) === 0)) {
    report(walk, at, `must not be ${show(value)}`);
    return;
  }
  // lt_now, gt_now and within depend on the clock; Envoy's resources use none of them.
  const problem = checkRange(value, set, cmp, show);
  if (problem) report(walk, at, problem);
}

function checkList(
  msg: ReflectMessage,
  field: DescField & { fieldKind: "list" },
  rules: FieldRules | undefined,
  at: string,
  walk: Walk,
): void {
  const list = msg.get(field);
  const repeated = rules?.type.case === "repeated" ? setRules(rules.type.value, walk.registry) : undefined;
  if (repeated && !(repeated.get("ignore_empty") === true && list.size === 0)) {
    const count = (name: string) => Number(repeated.get(name));
    if (repeated.has("min_items") && list.size < count("min_items")) {
      report(walk, at, `needs at least ${count("min_items")} item${count("min_items") === 1 ? "" : "s"}`);
    }
    if (repeated.has("max_items") && list.size > count("max_items")) {
      report(walk, at, `takes at most ${count("max_items")} items`);
    }
    if (repeated.get("unique") === true && field.listKind !== "message") {
      const seen = new Set<string>();
      for (const item of list) {
        const key = item instanceof Uint8Array ? Buffer.from(item).toString("hex") : String(item);
        if (seen.has(key)) report(walk, at, `must not repeat ${JSON.stringify(key)}`);
        seen.add(key);
      }
    }
  }
  const items = rules?.type.case === "repeated" ? rules.type.value.items : undefined;
  let index = 0;
  for (const item of list) {
    const itemAt = `${at}[${index++}]`;
    if (walk.out.length >= maxViolations) return;
    switch (field.listKind) {
      case "scalar":
        checkScalar(item, items, itemAt, walk);
        break;
      case "enum":
        checkEnumValue(item as number, field.enum, items, itemAt, walk);
        break;
      case "message":
        checkElement(item as ReflectMessage, items, itemAt, walk);
        break;
    }
  }
}

function checkMap(
  msg: ReflectMessage,
  field: DescField & { fieldKind: "map" },
  rules: FieldRules | undefined,
  at: string,
  walk: Walk,
): void {
  const map = msg.get(field);
  const mapRules = rules?.type.case === "map" ? rules.type.value : undefined;
  const set = mapRules ? setRules(mapRules, walk.registry) : undefined;
  if (set && !(set.get("ignore_empty") === true && map.size === 0)) {
    const count = (name: string) => Number(set.get(name));
    if (set.has("min_pairs") && map.size < count("min_pairs"))
      report(walk, at, `needs at least ${count("min_pairs")} entries`);
    if (set.has("max_pairs") && map.size > count("max_pairs"))
      report(walk, at, `takes at most ${count("max_pairs")} entries`);
  }
  for (const [key, value] of map) {
    const entryAt = `${at}[${JSON.stringify(String(key))}]`;
    if (walk.out.length >= maxViolations) return;
    checkScalar(key, mapRules?.keys, `${entryAt} (key)`, walk);
    switch (field.mapKind) {
      case "scalar":
        checkScalar(value, mapRules?.values, entryAt, walk);
        break;
      case "enum":
        checkEnumValue(value as number, field.enum, mapRules?.values, entryAt, walk);
        break;
      case "message":
        checkElement(value as ReflectMessage, mapRules?.values, entryAt, walk);
        break;
    }
  }
}

/** A message in a list or map: walked like a field, with the element rules. */
function checkElement(value: ReflectMessage, rules: FieldRules | undefined, at: string, walk: Walk): void {
  const typeName = value.desc.typeName;
  if (wrapperTypes.has(typeName)) {
    const inner = value.desc.fields[0];
    if (inner) checkScalar(value.get(inner), rules, at, walk);
    return;
  }
  if (rules?.type.case === "duration" && typeName === "google.protobuf.Duration") {
    checkDurationOrTimestamp(
      value.message as Message & Instant,
      setRules(rules.type.value, walk.registry),
      at,
      walk,
      "s",
    );
    return;
  }
  if (rules?.message?.skip) return;
  if (typeName === "google.protobuf.Any") {
    walkAny(value.message as Any, at, walk);
    return;
  }
  if (typeName.startsWith("google.protobuf.")) return;
  walkMessage(value, at, walk);
}
