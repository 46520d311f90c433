import { clone, type DescMessage, equals, type Message } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type Function as DispatchFunction,
  type Endpoint,
  EndpointSchema,
  EndpointSpecSchema,
  type Filter,
  FunctionSchema,
  type FunctionSpec,
  FunctionSpecSchema,
  type ObjectMeta,
  type Organization,
  OrganizationSchema,
  OrganizationSpecSchema,
  Phase,
  Role,
  type Run,
  RunSchema,
  type Secret,
  SecretSchema,
  SecretSpecSchema,
  SourceSchema,
  type Subscription,
  SubscriptionSchema,
  SubscriptionSpecSchema,
  type Token,
  TokenSchema,
  type WatchEventType,
} from "@dispatch/proto";
import type { DispatchClients } from "./client.js";
import { UsageError } from "./errors.js";
import { formatAge, formatDuration } from "./output/time.js";

/** Points at one object. `parent` is the function a run belongs to. */
export interface ObjectRef {
  org: string;
  name: string;
  parent?: string;
}

/** Narrows a list: the org, and for runs the function. */
export interface ListScope {
  org: string;
  parent?: string;
}

/** One change seen by a watch. */
export interface WatchEvent {
  type: WatchEventType;
  object?: Message;
}

/**
 * The calls the CLI makes for one kind. Optional members are the verbs the kind
 * does not have (runs cannot be deleted, tokens cannot be updated).
 */
export interface KindOps {
  get(ref: ObjectRef, options?: { reveal?: boolean }): Promise<Message>;
  list(scope: ListScope, options?: { reveal?: boolean }): Promise<Message[]>;
  create?: (object: Message) => Promise<Message>;
  update?: (object: Message) => Promise<Message>;
  delete?: (ref: ObjectRef) => Promise<Message>;
  watch?: (ref: ObjectRef, signal: AbortSignal) => AsyncIterable<WatchEvent>;
}

/** A table column: its header and how to print one object's cell. */
export interface Column {
  header: string;
  value(object: Message, now: Date): string;
}

/**
 * Everything the generic commands need to know about one kind. `get`, `delete`,
 * `apply` and the output formats are written once against this description.
 */
export interface Kind {
  /** The `kind:` of manifests and `-o json` output, e.g. `Secret`. */
  kind: string;
  /** Used in messages: `secret/open-sesame created`. */
  singular: string;
  plural: string;
  /** Other words accepted on the command line (`fn`, `api`). */
  aliases: readonly string[];
  /** Other `kind:` values accepted in manifests (`API`). */
  manifestAliases: readonly string[];
  /** The resource message. */
  schema: DescMessage;
  /** The spec message; kinds without one cannot appear in manifests. */
  specSchema?: DescMessage;
  /** Not inside an org (organizations, tokens): requests carry no org. */
  global: boolean;
  /** Values are hidden unless the request asks (`--reveal`). */
  revealable: boolean;
  columns: readonly Column[];
  nameOf(object: Message): string;
  ops(clients: DispatchClients): KindOps;
  /**
   * The desired spec completed with what the server fills in when a field is left
   * empty, taken from the live spec, so `apply` compares like with like.
   */
  withServerDefaults?(spec: Message, live: Message | undefined): Message;
}

/** The meta of a resource message, if it has one (tokens do not). */
export function metaOf(object: Message): ObjectMeta | undefined {
  return (object as { meta?: ObjectMeta }).meta;
}

/** The status fields every resource status shares. */
export interface StatusView {
  phase: Phase;
  reason: string[];
  observedGeneration: bigint;
}

/** The status of a resource message, if it has one. */
export function statusOf(object: Message): StatusView | undefined {
  return (object as { status?: StatusView }).status;
}

/** A phase as users read it: `READY`, `ERROR`; `-` when the server has not set one. */
export function phaseName(phase: Phase | undefined): string {
  if (phase === undefined || phase === Phase.UNSPECIFIED) return "-";
  return Phase[phase] ?? String(phase);
}

const name: Column = { header: "NAME", value: (o) => metaOf(o)?.name ?? "" };
const status: Column = { header: "STATUS", value: (o) => phaseName(statusOf(o)?.phase) };
const age: Column = { header: "AGE", value: (o, now) => formatAge(metaOf(o)?.created, now) };
/** The first line of `text`, cut to `max` characters with an ellipsis. */
const shorten = (text: string, max: number) => {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
};
const list = (values: readonly string[], empty = "-") => (values.length > 0 ? values.join(",") : empty);

/**
 * The Create/Get/List/Update/Delete/Watch calls of the services that follow the
 * standard resource shape. Every such service has the same request and response
 * messages except for the name of the field that holds the resource (`secret`,
 * `function`, …), so one implementation serves them all.
 */
function resourceOps(client: unknown, field: string, revealable: boolean): KindOps {
  // The typed clients differ only in that field name; this view erases it.
  const service = client as ResourceServiceClient;
  const unwrap = (response: Record<string, unknown>): Message => {
    const object = response[field] as Message | undefined;
    if (!object) throw new ConnectError(`the server's response has no ${field}`, Code.Internal);
    return object;
  };
  const reveal = (options?: { reveal?: boolean }) => (revealable && options?.reveal ? { reveal: true } : {});
  return {
    get: async (ref, options) =>
      unwrap(await service.get({ org: ref.org, name: ref.name, ...reveal(options) })),
    async list(scope, options) {
      const items: Message[] = [];
      let pageToken = "";
      do {
        const page = await service.list({ org: scope.org, options: { pageToken }, ...reveal(options) });
        items.push(...page.items);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return items;
    },
    create: async (object) => unwrap(await service.create({ [field]: object })),
    update: async (object) => unwrap(await service.update({ [field]: object })),
    delete: async (ref) => unwrap(await service.delete({ org: ref.org, name: ref.name })),
    // A watch lasts as long as its caller wants (--wait has its own --timeout).
    watch: (ref, signal) => service.watch({ org: ref.org, name: ref.name }, { signal, timeoutMs: 0 }),
  };
}

interface ResourceServiceClient {
  create(request: object): Promise<Record<string, unknown>>;
  get(request: object): Promise<Record<string, unknown>>;
  list(request: object): Promise<{ items: Message[]; nextPageToken: string }>;
  update(request: object): Promise<Record<string, unknown>>;
  delete(request: object): Promise<Record<string, unknown>>;
  watch(request: object, options: { signal: AbortSignal; timeoutMs: number }): AsyncIterable<WatchEvent>;
}

/** A one-line summary of subscription filters: `type=order.created, source=/shop*`. */
export function describeFilters(filters: readonly Filter[]): string {
  const attrs = (m: { attributes: Record<string, string> } | undefined, before: string, after: string) =>
    Object.entries(m?.attributes ?? {})
      .map(([k, v]) => `${k}=${before}${v}${after}`)
      .join(" ");
  const one = (f: Filter): string => {
    const d = f.dialect;
    switch (d.case) {
      case "exact":
        return attrs(d.value, "", "");
      case "prefix":
        return attrs(d.value, "", "*");
      case "suffix":
        return attrs(d.value, "*", "");
      case "all":
      case "any":
        return `${d.case}(${d.value.filters.map(one).join(", ")})`;
      case "not":
        return `not(${one(d.value)})`;
      case "sql":
        return `sql(${d.value})`;
      default:
        return "?";
    }
  };
  return filters.length > 0 ? filters.map(one).join(", ") : "(all events)";
}

const functionKind: Kind = {
  kind: "Function",
  singular: "function",
  plural: "functions",
  aliases: ["fn", "fns"],
  manifestAliases: [],
  schema: FunctionSchema,
  specSchema: FunctionSpecSchema,
  global: false,
  revealable: false,
  columns: [
    name,
    { header: "RUNTIME", value: (o) => (o as DispatchFunction).spec?.runtime || "-" },
    status,
    { header: "READY", value: (o) => String((o as DispatchFunction).status?.readyInstances ?? 0) },
    age,
    // Why it is not READY, or what just happened to it (a crash and its restart).
    { header: "REASON", value: (o) => shorten(statusOf(o)?.reason[0] ?? "", 70) || "-" },
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.functions, "function", false),
  // The server names the handler of a single-file source after the file when it
  // is left empty; for the same source, an empty handler means that one.
  withServerDefaults(spec, live) {
    const desired = spec as FunctionSpec;
    const current = live as FunctionSpec | undefined;
    if (desired.handler !== "" || !current?.handler) return spec;
    const same =
      desired.source !== undefined &&
      current.source !== undefined &&
      equals(SourceSchema, desired.source, current.source);
    if (!same) return spec;
    const completed = clone(FunctionSpecSchema, desired);
    completed.handler = current.handler;
    return completed;
  },
};

const endpointKind: Kind = {
  kind: "Endpoint",
  singular: "endpoint",
  plural: "endpoints",
  aliases: ["api", "apis"],
  manifestAliases: ["API"],
  schema: EndpointSchema,
  specSchema: EndpointSpecSchema,
  global: false,
  revealable: false,
  columns: [
    name,
    {
      header: "FUNCTION",
      value: (o) => {
        const spec = (o as Endpoint).spec;
        if (spec?.function) return spec.function;
        return list((spec?.backends ?? []).map((b) => `${b.function}:${b.weight}`));
      },
    },
    { header: "METHODS", value: (o) => list((o as Endpoint).spec?.methods ?? [], "*") },
    { header: "PATHS", value: (o) => list((o as Endpoint).spec?.paths ?? []) },
    status,
    age,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.endpoints, "endpoint", false),
};

const subscriptionKind: Kind = {
  kind: "Subscription",
  singular: "subscription",
  plural: "subscriptions",
  aliases: ["sub", "subs"],
  manifestAliases: [],
  schema: SubscriptionSchema,
  specSchema: SubscriptionSpecSchema,
  global: false,
  revealable: false,
  columns: [
    name,
    { header: "FUNCTION", value: (o) => (o as Subscription).spec?.function || "-" },
    { header: "FILTERS", value: (o) => describeFilters((o as Subscription).spec?.filters ?? []) },
    status,
    age,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.subscriptions, "subscription", false),
};

const secretKind: Kind = {
  kind: "Secret",
  singular: "secret",
  plural: "secrets",
  aliases: [],
  manifestAliases: [],
  schema: SecretSchema,
  specSchema: SecretSpecSchema,
  global: false,
  revealable: true,
  // Values never appear in tables, even with --reveal.
  columns: [name, { header: "KEYS", value: (o) => list((o as Secret).keys) }, status, age],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.secrets, "secret", true),
};

const organizationKind: Kind = {
  kind: "Organization",
  singular: "organization",
  plural: "organizations",
  aliases: ["org", "orgs"],
  manifestAliases: [],
  schema: OrganizationSchema,
  specSchema: OrganizationSpecSchema,
  global: true,
  revealable: false,
  columns: [
    name,
    { header: "DISPLAY NAME", value: (o) => (o as Organization).spec?.displayName || "-" },
    status,
    age,
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => resourceOps(c.organizations, "organization", false),
};

const tokenKind: Kind = {
  kind: "Token",
  singular: "token",
  plural: "tokens",
  aliases: [],
  manifestAliases: [],
  schema: TokenSchema,
  global: true,
  revealable: false,
  columns: [
    { header: "NAME", value: (o) => (o as Token).name },
    { header: "ORG", value: (o) => (o as Token).org || "*" },
    { header: "ROLE", value: (o) => roleName((o as Token).role) },
    { header: "AGE", value: (o, now) => formatAge((o as Token).created, now) },
  ],
  nameOf: (o) => (o as Token).name,
  ops: (c) => ({
    // TokenService has no Get: tokens are few, so find the one in the list.
    async get(ref) {
      const { items } = await c.tokens.list({});
      const token = items.find((t) => t.name === ref.name);
      if (!token) throw new ConnectError(`token "${ref.name}" not found`, Code.NotFound);
      return token;
    },
    list: async () => (await c.tokens.list({})).items,
    async delete(ref) {
      const { token } = await c.tokens.delete({ name: ref.name });
      if (!token) throw new ConnectError("the server's response has no token", Code.Internal);
      return token;
    },
  }),
};

const runKind: Kind = {
  kind: "Run",
  singular: "run",
  plural: "runs",
  aliases: [],
  manifestAliases: [],
  schema: RunSchema,
  global: false,
  revealable: false,
  columns: [
    { header: "ID", value: (o) => metaOf(o)?.name ?? "" },
    { header: "FUNCTION", value: (o) => (o as Run).spec?.function ?? "" },
    status,
    { header: "STARTED", value: (o, now) => ageAgo(formatAge((o as Run).status?.started, now)) },
    { header: "DURATION", value: (o) => formatDuration((o as Run).status?.duration) },
  ],
  nameOf: (o) => metaOf(o)?.name ?? "",
  ops: (c) => ({
    async get(ref) {
      const { run } = await c.runs.get({ org: ref.org, function: ref.parent ?? "", name: ref.name });
      if (!run) throw new ConnectError("the server's response has no run", Code.Internal);
      return run;
    },
    async list(scope) {
      const items: Message[] = [];
      let pageToken = "";
      do {
        const page = await c.runs.list({
          org: scope.org,
          function: scope.parent ?? "",
          options: { pageToken },
        });
        items.push(...page.items);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return items;
    },
  }),
};

/** When a run started (else when its record was made), in milliseconds; 0 when unknown. */
function runStartMs(run: Run): number {
  const t = run.status?.started ?? run.meta?.created;
  return t ? timestampMs(t) : 0;
}

/** Runs oldest first, by start time (ties keep their order). */
export function sortRuns<T extends Message>(runs: readonly T[]): T[] {
  return [...runs].sort((a, b) => runStartMs(a as unknown as Run) - runStartMs(b as unknown as Run));
}

/** The run that started last, if any. */
export function newestRun<T extends Message>(runs: readonly T[]): T | undefined {
  return sortRuns(runs).at(-1);
}

function ageAgo(age: string): string {
  return age === "-" ? age : `${age} ago`;
}

/** A token role as users read it: `ADMIN`, `ORG_MEMBER`. */
export function roleName(role: Role): string {
  return role === Role.UNSPECIFIED ? "-" : (Role[role] ?? String(role));
}

/** Every kind the CLI knows, in the order help texts list them. */
export const KINDS: readonly Kind[] = [
  functionKind,
  endpointKind,
  subscriptionKind,
  secretKind,
  organizationKind,
  tokenKind,
  runKind,
];

/** The words `get`, `delete` and `update` accept for a kind. */
export function kindWords(kind: Kind): string[] {
  return [kind.singular, kind.plural, ...kind.aliases];
}

/**
 * Finds a kind by a command-line word (`secret`, `secrets`, `fn`, `api`, any case).
 * An unknown word is a {@link UsageError} that lists the known kinds.
 */
export function kindByWord(word: string): Kind {
  const lower = word.toLowerCase();
  const kind = KINDS.find((k) => kindWords(k).includes(lower));
  if (!kind) throw new UsageError(`unknown kind "${word}" (known kinds: ${describeKinds(KINDS)})`);
  return kind;
}

/** The kinds that can appear in manifests. */
export const MANIFEST_KINDS: readonly Kind[] = KINDS.filter((k) => k.specSchema !== undefined);

/** Finds a manifest kind by its `kind:` value (`Secret`, `API`, case-insensitive). */
export function kindByManifestName(value: string): Kind | undefined {
  const lower = value.toLowerCase();
  return MANIFEST_KINDS.find((k) => [k.kind, ...k.manifestAliases].some((n) => n.toLowerCase() === lower));
}

/** `functions (fn, fns), endpoints (api, apis), …` for messages and help. */
export function describeKinds(kinds: readonly Kind[]): string {
  return kinds
    .map((k) => {
      const aliases = k.aliases.filter((a) => a !== k.singular);
      return aliases.length > 0 ? `${k.plural} (${aliases.join(", ")})` : k.plural;
    })
    .join(", ");
}
