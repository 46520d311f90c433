import type { DescMessage, Message } from "@bufbuild/protobuf";
import type { DispatchClients, WatchCache, WatchReconnect } from "@dispatch/client";
import { type ObjectMeta, Phase } from "@dispatch/proto";

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

/** Options for {@link KindOps.watch}. */
export interface WatchOptions {
  /** Ends the watch (Ctrl-C, a deadline). */
  signal: AbortSignal;
  /** Told when the connection broke and the watch starts again. */
  onReconnect?(reconnect: WatchReconnect): void;
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
  /** Follows one object (keyed by its name) across reconnects, until the signal aborts. */
  watch?: (ref: ObjectRef, options: WatchOptions) => WatchCache<Message>;
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
