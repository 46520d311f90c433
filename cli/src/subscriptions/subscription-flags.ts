import { create } from "@bufbuild/protobuf";
import { durationMs, type Timestamp, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  BackoffPolicy,
  BackoffSchema,
  type Delivery,
  DeliverySchema,
  type Filter,
  FilterSchema,
  Ordering,
  StartFromSchema,
  type SubscriptionSpec,
  SubscriptionSpecSchema,
} from "@dispatch/proto";
import { type Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "../errors.js";
import { parseCountFlag, parseDurationFlag, toDuration } from "../functions/function-flags.js";
import { parseTime } from "../output/time.js";

/** Where a new subscription starts reading: `--from now|all|TIME`. */
export type StartPosition =
  | { case: "new"; value: true }
  | { case: "all"; value: true }
  | { case: "time"; value: Timestamp };

/** The flags `create subscription` and `update subscription` share. */
export interface SubscriptionFlags {
  eventType?: string;
  typePrefix?: string;
  source?: string;
  filter?: string;
  filterFile?: string;
  /** update only: remove every filter. */
  allEvents?: boolean;
  maxRetries?: number;
  backoff?: "linear" | "exponential";
  /** Milliseconds. */
  backoffDelay?: number;
  /** Milliseconds. */
  backoffMax?: number;
  /** Milliseconds. */
  deliveryTimeout?: number;
  deadLetter?: boolean;
  from?: StartPosition;
  ordered?: boolean;
  concurrency?: number;
}

/** The delivery of a subscription that names none: three retries, exponential backoff from 1 s, dead letters kept. */
export function defaultDelivery(): Delivery {
  return create(DeliverySchema, {
    retries: 3,
    backoff: { policy: BackoffPolicy.EXPONENTIAL, delay: toDuration(1000) },
    deadLetter: "store",
  });
}

/**
 * The spec `create subscription` starts from, before its flags: every event,
 * the default delivery ({@link defaultDelivery}), from now on, unordered.
 */
export function newSubscriptionSpec(fn: string): SubscriptionSpec {
  return create(SubscriptionSpecSchema, {
    function: fn,
    delivery: defaultDelivery(),
    startFrom: { position: { case: "new", value: true } },
    ordering: Ordering.UNORDERED,
  });
}

/** Parses `--from`: `now`, `all`, or an RFC 3339 time. */
export function parseFromFlag(value: string): StartPosition {
  const text = value.trim().toLowerCase();
  if (text === "now" || text === "new") return { case: "new", value: true };
  if (text === "all") return { case: "all", value: true };
  const time = parseTime(value);
  if (time === undefined) {
    throw new InvalidArgumentError(
      "use now (events stored from now on), all (every stored event) or an RFC 3339 time such as 2025-06-01T12:00:00Z.",
    );
  }
  return { case: "time", value: timestampFromDate(time) };
}

/** Parses a flag that must be a text with something in it. */
function nonEmpty(what: string): (value: string) => string {
  return (value) => {
    if (value.trim() === "") throw new InvalidArgumentError(`give ${what}.`);
    return value;
  };
}

/** Adds the subscription flags to `create subscription` or `update subscription`. */
export function addSubscriptionOptions(command: Command, verb: "create" | "update"): Command {
  const create = verb === "create";
  const replaces = create ? "" : " (replaces the filter on the same attribute)";
  command
    .option(
      "--event-type <type>",
      `deliver events of this type only, e.g. com.example.order.created${replaces}`,
      nonEmpty("an event type"),
    )
    .option(
      "--type-prefix <prefix>",
      `deliver events whose type starts with this, e.g. com.example.${replaces}`,
      nonEmpty("a type prefix"),
    )
    .option(
      "--source <source>",
      `deliver events from this source only, e.g. /shop${replaces}`,
      nonEmpty("an event source"),
    )
    .option(
      "--filter <cesql>",
      `a CloudEvents SQL expression events must match, e.g. "subject LIKE 'eu-%'"${create ? "" : " (replaces the one there is)"}`,
      nonEmpty("a CESQL expression"),
    )
    .option(
      "--filter-file <file>",
      `a YAML or JSON list of Subscriptions API filters (exact, prefix, suffix, all, any, not, sql)${create ? "" : "; replaces every filter"}`,
    );
  if (!create) command.option("--all-events", "remove every filter: deliver every event of the broker");
  command
    .option(
      "--max-retries <n>",
      `attempts after the first one fails, 0 for none${create ? " (default 3)" : ""}`,
      parseCountFlag,
    )
    .addOption(
      new Option(
        "--backoff <policy>",
        `how the wait between retries grows${create ? " (default exponential)" : ""}`,
      ).choices(["linear", "exponential"]),
    )
    .option(
      "--backoff-delay <duration>",
      `the wait before the first retry, e.g. 500ms or 2s${create ? " (default 1s)" : ""}`,
      parseDurationFlag,
    )
    .option(
      "--backoff-max <duration>",
      `the longest wait between retries, e.g. 5m${create ? " (default 1m)" : ""}`,
      parseDurationFlag,
    )
    .option(
      "--delivery-timeout <duration>",
      `how long one delivery may take, e.g. 30s${create ? " (default: the function's timeout)" : ""}`,
      parseDurationFlag,
    )
    // --dead-letter before --no-dead-letter: commander gives a `--no-x` declared
    // first (or alone) the default x = true, which would count as a change at every update.
    .option(
      "--dead-letter",
      `keep events whose last attempt failed (dispatch get deadletters, dispatch redeliver)${create ? " (the default)" : ""}`,
    )
    .option("--no-dead-letter", "drop events whose last attempt failed")
    .option(
      "--ordered",
      "deliver one event at a time, in the order stored (the next waits until the one before succeeded or gave up)",
    );
  if (!create) command.option("--no-ordered", "deliver several events at once again (--concurrency)");
  if (create) {
    command.option(
      "--from <when>",
      "where the subscription starts reading: now (default), all (every stored event), or an RFC 3339 time",
      parseFromFlag,
    );
  } else {
    // Declared so that the help says why it is refused, not "unknown option".
    command.addOption(
      new Option("--from <when>", "(create only: a subscription reads on from where it is)").hideHelp(),
    );
  }
  return command.option(
    "--concurrency <n>",
    `events delivered at once when unordered, up to 1000 (0: the default, 16)`,
    parseCountFlag,
  );
}

/** Whether any subscription flag asked for a change. */
export function hasSubscriptionChanges(flags: SubscriptionFlags): boolean {
  return Object.values(flags).some((value) => value !== undefined);
}

/**
 * Sets what the flags name in `spec`, in place, and keeps the rest.
 *
 * Filters (all must match): `--event-type`/`--type-prefix`, `--source` and
 * `--filter` each replace the top-level filter on their attribute (`type`,
 * `source`) or the SQL one, and leave the others; `--filter-file` and
 * `--all-events` replace every filter (the other filter flags then add theirs).
 * Delivery: a subscription without one gets {@link defaultDelivery} first, so that
 * naming one setting keeps the defaults of the others.
 *
 * @param fileFilters the filters of `--filter-file`, read by the caller.
 * @throws UsageError for flags that contradict each other or the subscription.
 */
export function applySubscriptionFlags(
  spec: SubscriptionSpec,
  flags: SubscriptionFlags,
  fileFilters?: readonly Filter[],
): void {
  checkSubscriptionFlags(flags);
  const ordered = flags.ordered ?? spec.ordering === Ordering.ORDERED;
  if (ordered && flags.concurrency !== undefined && flags.concurrency > 1) {
    throw new UsageError(
      `this subscription delivers in order, one event at a time: --concurrency ${flags.concurrency} needs --no-ordered too`,
    );
  }

  if (flags.allEvents || fileFilters !== undefined) spec.filters = [...(fileFilters ?? [])];
  const type = flags.eventType ?? flags.typePrefix;
  if (type !== undefined) {
    spec.filters = withoutAttribute(spec.filters, "type");
    if (flags.eventType !== undefined) spec.filters = withExact(spec.filters, "type", flags.eventType);
    else
      spec.filters.push(
        create(FilterSchema, { dialect: { case: "prefix", value: { attributes: { type } } } }),
      );
  }
  if (flags.source !== undefined) {
    spec.filters = withExact(withoutAttribute(spec.filters, "source"), "source", flags.source);
  }
  if (flags.filter !== undefined) {
    spec.filters = spec.filters.filter((f) => f.dialect.case !== "sql");
    spec.filters.push(create(FilterSchema, { dialect: { case: "sql", value: flags.filter } }));
  }

  const deliveryFlags = [
    flags.maxRetries,
    flags.backoff,
    flags.backoffDelay,
    flags.backoffMax,
    flags.deliveryTimeout,
    flags.deadLetter,
    flags.concurrency,
  ];
  if (deliveryFlags.some((f) => f !== undefined)) {
    spec.delivery ??= defaultDelivery();
    const delivery = spec.delivery;
    if (flags.maxRetries !== undefined) delivery.retries = flags.maxRetries;
    if (flags.backoff !== undefined || flags.backoffDelay !== undefined || flags.backoffMax !== undefined) {
      delivery.backoff ??= create(BackoffSchema);
      const backoff = delivery.backoff;
      if (flags.backoff !== undefined) {
        backoff.policy = flags.backoff === "linear" ? BackoffPolicy.LINEAR : BackoffPolicy.EXPONENTIAL;
      }
      if (flags.backoffDelay !== undefined) backoff.delay = toDuration(flags.backoffDelay);
      if (flags.backoffMax !== undefined) backoff.max = toDuration(flags.backoffMax);
      const delayMs = backoff.delay ? durationMs(backoff.delay) : 1000;
      if (backoff.max && durationMs(backoff.max) < delayMs) {
        throw new UsageError(
          `the longest wait between retries (--backoff-max ${ms(durationMs(backoff.max))}) is shorter than ` +
            `the first one (--backoff-delay ${ms(delayMs)}): raise --backoff-max or lower --backoff-delay`,
        );
      }
    }
    if (flags.deliveryTimeout !== undefined) delivery.timeout = toDuration(flags.deliveryTimeout);
    if (flags.deadLetter !== undefined) delivery.deadLetter = flags.deadLetter ? "store" : "drop";
    if (flags.concurrency !== undefined) delivery.concurrency = flags.concurrency;
  }
  if (flags.from !== undefined) spec.startFrom = create(StartFromSchema, { position: flags.from });
  if (flags.ordered !== undefined) spec.ordering = flags.ordered ? Ordering.ORDERED : Ordering.UNORDERED;
}

/**
 * The mistakes the flags make on their own, whatever the subscription holds, so
 * that a command can refuse them before it calls the server.
 *
 * @throws UsageError naming the flags that do not go together.
 */
export function checkSubscriptionFlags(flags: SubscriptionFlags): void {
  if (flags.ordered && flags.concurrency !== undefined && flags.concurrency > 1) {
    throw new UsageError(
      "--ordered delivers one event at a time: leave out --concurrency (or give --concurrency 1)",
    );
  }
  if (flags.eventType !== undefined && flags.typePrefix !== undefined) {
    throw new UsageError(
      "give --event-type or --type-prefix, not both: --event-type matches one type exactly, " +
        "--type-prefix every type that starts with it",
    );
  }
  if (flags.allEvents && flags.filterFile !== undefined) {
    throw new UsageError("give --all-events or --filter-file, not both (each replaces every filter)");
  }
  if (
    flags.allEvents &&
    [flags.eventType, flags.typePrefix, flags.source, flags.filter].some((f) => f !== undefined)
  ) {
    throw new UsageError(
      "--all-events removes every filter: leave it out to change one filter, or give --filter-file to replace them all",
    );
  }
}

/**
 * `filters` without the top-level `exact` and `prefix` matches on `name`: a filter
 * that matched only that attribute goes, one that matched others too keeps them.
 */
function withoutAttribute(filters: readonly Filter[], name: string): Filter[] {
  const kept: Filter[] = [];
  for (const filter of filters) {
    const d = filter.dialect;
    if ((d.case === "exact" || d.case === "prefix") && name in d.value.attributes) {
      const { [name]: _, ...rest } = d.value.attributes;
      if (Object.keys(rest).length === 0) continue;
      kept.push(create(FilterSchema, { dialect: { case: d.case, value: { attributes: rest } } }));
      continue;
    }
    kept.push(filter);
  }
  return kept;
}

/** `filters` with `name = value` added to the first top-level `exact` filter, or a new one. */
function withExact(filters: Filter[], name: string, value: string): Filter[] {
  const exact = filters.find((f) => f.dialect.case === "exact");
  if (exact?.dialect.case === "exact") {
    exact.dialect.value.attributes[name] = value;
    return filters;
  }
  return [
    ...filters,
    create(FilterSchema, { dialect: { case: "exact", value: { attributes: { [name]: value } } } }),
  ];
}

function ms(value: number): string {
  return value % 1000 === 0 ? `${value / 1000}s` : `${value}ms`;
}
