import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { create, fromJson, type JsonObject, type JsonValue, toBinary, toJson } from "@bufbuild/protobuf";
import {
  durationFromMs,
  timestampFromMs,
  timestampMs,
  type Value,
  ValueSchema,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  type CloudEvent,
  CloudEventSchema,
  ErrorType,
  type Function as FunctionResource,
  LogsSchema,
  ObjectMetaSchema,
  Phase,
  type Run,
  RunErrorSchema,
  RunSchema,
  type Secret,
  Trigger,
} from "@dispatch/proto";
import {
  type CallError,
  type CallLogs,
  ERROR_HEADER,
  LOGS_HEADER,
  MAX_SECRETS_HEADER_BYTES,
  RUN_ID_HEADER,
  SECRETS_HEADER,
} from "@dispatch/runtimes";
import { describeExit } from "@dispatch/server-kit";
import type { ErrorLogger } from "../errors.js";
import type { InFlightRuns } from "../store/in-flight-runs.js";
import type { ResourceStore } from "../store/resource-store.js";
import type { RunStore } from "../store/run-store.js";
import { callTimeoutMs } from "./call-timeout.js";
import {
  eventJsonData,
  eventRequest,
  InvalidReplyError,
  normalizeCloudEvent,
  replyEvent,
} from "./cloud-event.js";
import { InstanceQuotaError } from "./instance-quota.js";
import { formatBytes } from "./limits.js";
import type { Instance, Lease } from "./revision-pool.js";
import { type RunBudget, valueSize } from "./run-size.js";
import type { Scheduler } from "./scheduler.js";
import { NotServingError } from "./scheduler.js";
import { type SchemaCheck, SchemaError } from "./schema-check.js";
import {
  callWorker,
  type PassThrough,
  type PassThroughHead,
  passThrough,
  probeWorker,
  sendToWorker,
  WorkerCallError,
} from "./worker-client.js";

/**
 * What a call carries, by the wire form it takes to the worker
 * (runtimes/CONTRACT.md): JSON to `/invoke` (exec), a CloudEvent in binary
 * mode to `/event` (event delivery), or an HTTP request streamed through
 * `/http/*` with its answer streamed back (the activator).
 */
export type CallForm =
  | { wire: "invoke"; input: Value | undefined }
  | { wire: "event"; event: CloudEvent; subscription?: string }
  | { wire: "http"; exchange: HttpExchange };

/**
 * An HTTP request to pass through, and where its answer goes. The invoker
 * answers it whatever happens: the worker's answer as it streams, or, when
 * none could be passed on, a JSON error (`{"error": {type, message}}`).
 */
export interface HttpExchange extends PassThrough {
  /** Aborts when the caller goes away (e.g. while the function is waking). */
  signal: AbortSignal;
}

/** One invocation to make. */
export type InvokeRequest = {
  org: string;
  function: string;
  /** Extra secrets for this call, merged after the function's own. */
  secrets: readonly string[];
  /** Return the INITIALIZED run at once and finish in the background (not for `http`). */
  async?: boolean;
} & CallForm;

/** What the invoker needs. */
export interface InvokerOptions {
  functions: ResourceStore<FunctionResource>;
  secrets: ResourceStore<Secret>;
  scheduler: Scheduler;
  runs: RunStore;
  schemas: SchemaCheck;
  /** The installation's call deadline for functions that set no `spec.timeout` (`FunctionDefaults.timeoutMs`). */
  defaultTimeoutMs: number;
  /** Async runs in flight, so that those a crash cuts off end as failed after a restart. */
  inFlight?: InFlightRuns;
  log: ErrorLogger;
}

/** A failure that becomes the run's error (not an RPC error). */
class RunFailure extends Error {
  constructor(
    readonly type: ErrorType,
    message: string,
    readonly lines: string[] = [],
    /** The status an HTTP caller gets when no answer of the worker's was passed on. */
    readonly httpStatus: number = type === ErrorType.INPUT_ERROR ? 400 : 500,
  ) {
    super(message);
  }
}

/** What a worker's answer says, whichever wire it came over. */
interface CallAnswer {
  logs: CallLogs;
  error: CallError | null;
  /** The handler's result (`/invoke`, and `/event` when it is not a reply event); undefined over `/http`. */
  output?: unknown;
  /** The reply event of an `/event` call. */
  reply?: CloudEvent;
}

/** Sends the prepared call to one instance. */
type Send = (instance: Instance) => Promise<CallAnswer>;

/** The most a worker may take past the deadline before its call is given up (and it is probed). */
const graceMs = 2000;

/**
 * The invoker: the one path every call of a function takes, whatever its
 * wire form. It resolves the function to a ready instance (waking it when it
 * runs none), merges secrets and checks schemas, leases a slot, calls the
 * worker, makes a call that never reached a worker again on another
 * instance, retires a worker wedged past the deadline, and records a Run for
 * every invocation. `exec` (RunService.Create), event delivery and the
 * activator all call {@link Invoker.run}.
 */
export class Invoker {
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly options: InvokerOptions) {}

  /**
   * Runs the function. Blocking calls resolve with the finished run (an
   * error inside the run is not an RPC error); async calls with the
   * INITIALIZED run. A missing function (NotFound) or one that cannot serve
   * (FailedPrecondition) is a ConnectError, and no run is recorded. An
   * `http` call has been answered when this resolves.
   *
   * @example
   * await invoker.run({ wire: "invoke", org: "default", function: "hello", secrets: [], input });
   * await invoker.run({ wire: "event", org: "default", function: "on-order", secrets: [], event });
   */
  async run(call: InvokeRequest): Promise<Run> {
    const request: InvokeRequest =
      call.wire === "event" ? { ...call, event: normalizeCloudEvent(call.event) } : call;
    const fn = await this.functionOf(request.org, request.function);
    const notServing = this.options.scheduler.notServing(request.org, request.function);
    if (notServing) {
      throw new ConnectError(
        `function "${request.function}" is not ready: ${notServing}`,
        Code.FailedPrecondition,
      );
    }
    // A run record holds the call's input (an event with its data): one that
    // cannot be recorded is refused, and the refusal recorded without it.
    const budget = this.options.runs.budget();
    const inputBytes = inputSize(request);
    if (inputBytes > budget.input) {
      const refused = this.newRun(withoutInput(request), fn);
      const what = request.wire === "event" ? "event" : "input";
      fail(
        refused,
        new RunFailure(
          ErrorType.INPUT_ERROR,
          `the ${what} of ${inputBytes} bytes is more than the limit of ${budget.input} bytes (${recordNote(budget)}; pass large data by reference, e.g. a URL)`,
        ),
      );
      return await this.complete(refused);
    }
    const run = this.newRun(request, fn);
    if (request.async && request.wire !== "http") {
      const inFlight = this.options.inFlight;
      await inFlight?.begin(run);
      await this.options.runs.put(run).catch(async (err: unknown) => {
        await inFlight?.end(run);
        throw err;
      });
      const finishing = this.finish(run, fn, request)
        .catch((err: unknown) => this.options.log("async run", err))
        .finally(() => inFlight?.end(run));
      this.background.add(finishing);
      void finishing.finally(() => this.background.delete(finishing));
      return run;
    }
    return await this.finish(run, fn, request);
  }

  /** Waits for async runs still in progress (shutdown). */
  async drain(): Promise<void> {
    await Promise.all(this.background);
  }

  /** The stored function, or a NotFound RPC error. */
  async functionOf(org: string, name: string): Promise<FunctionResource> {
    // The scheduler's watch-fed copy is current; the store is asked only for
    // a function created a moment ago that the watch has not delivered yet.
    const known = this.options.scheduler.known(org, name);
    if (known) return known;
    const stored = await this.options.functions.get(`${org}.${name}`);
    if (!stored) throw new ConnectError(`function "${name}" not found in org "${org}"`, Code.NotFound);
    return stored.object;
  }

  /** A new INITIALIZED run record for a call to `fn`. */
  private newRun(request: InvokeRequest, fn: FunctionResource): Run {
    const id = randomUUID();
    const started = timestampFromMs(Date.now());
    return create(RunSchema, {
      meta: create(ObjectMetaSchema, {
        name: id,
        org: request.org,
        uid: id,
        created: started,
        modified: started,
      }),
      spec: {
        function: request.function,
        secrets: [...request.secrets],
        trigger: triggerOf(request),
        async: request.async ?? false,
        ...(request.wire === "invoke" && request.input !== undefined ? { input: request.input } : {}),
        ...(request.wire === "event"
          ? { event: request.event, subscription: request.subscription ?? "" }
          : {}),
      },
      status: {
        phase: Phase.INITIALIZED,
        started,
        functionGeneration: fn.meta?.generation ?? 0n,
      },
    });
  }

  private async finish(run: Run, fn: FunctionResource, request: InvokeRequest): Promise<Run> {
    const status = run.status;
    if (!status) throw new Error("run without status");
    let failure: RunFailure | undefined;
    try {
      const answer = await this.call(run, fn, request);
      status.logs = create(LogsSchema, { stdout: answer.logs.stdout, stderr: answer.logs.stderr });
      if (answer.error) {
        throw new RunFailure(errorTypeOf(answer.error.type), answer.error.message, answer.error.stack);
      }
      this.recordResult(run, fn, answer);
      status.phase = Phase.READY;
    } catch (thrown) {
      // Whatever went wrong, the call ends as a run with an error: a caller
      // (or an async run's reader) is never left without one.
      if (thrown instanceof RunFailure) failure = thrown;
      else {
        this.options.log(`run ${run.meta?.name} of ${request.org}/${request.function}`, thrown);
        failure = new RunFailure(
          ErrorType.SYSTEM_ERROR,
          `the platform failed this call: ${(thrown as Error).message}`,
        );
      }
      fail(run, failure);
    }
    if (request.wire === "http") answerFailure(request.exchange.response, failure);
    // The function was deleted (or re-created) while this call ran: its runs
    // are gone with it, so this one is not stored either.
    if (this.options.scheduler.known(request.org, request.function)?.meta?.uid !== fn.meta?.uid) return run;
    return await this.complete(run);
  }

  /** Checks the handler's result (size, output schema) and puts it in the run. */
  private recordResult(run: Run, fn: FunctionResource, answer: CallAnswer): void {
    const status = run.status;
    if (!status) return;
    const budget = this.options.runs.budget();
    if (answer.reply) {
      const replyBytes = toBinary(CloudEventSchema, answer.reply).length;
      if (replyBytes > budget.output) {
        throw new RunFailure(
          ErrorType.FUNCTION_ERROR,
          `the reply event of ${replyBytes} bytes is more than the limit of ${budget.output} bytes (${recordNote(budget)}; reply with less data, or a reference to it)`,
        );
      }
      status.reply = answer.reply;
      return;
    }
    if (answer.output === undefined) return;
    const output = (answer.output ?? null) as JsonValue;
    const outputBytes = valueSize(output);
    if (outputBytes > budget.output) {
      throw new RunFailure(
        ErrorType.FUNCTION_ERROR,
        `the output of ${outputBytes} bytes is more than the limit of ${budget.output} bytes (${recordNote(budget)}; return less, or store large results elsewhere and return a reference)`,
      );
    }
    const schemaOut = fn.spec?.schema?.out;
    if (schemaOut) {
      const problems = this.checkSchema(fn, "out", schemaOut, output);
      if (problems.length > 0) {
        throw new RunFailure(
          ErrorType.FUNCTION_ERROR,
          `the output does not match the function's output schema: ${problems.join("; ")}`,
        );
      }
    }
    if (output !== null) status.output = fromJson(ValueSchema, output);
  }

  /** Stamps the finish time and duration on a run and stores it. */
  private async complete(run: Run): Promise<Run> {
    const status = run.status;
    if (!status) throw new Error("run without status");
    const finishedMs = Date.now();
    status.finished = timestampFromMs(finishedMs);
    const startedMs = status.started ? timestampMs(status.started) : finishedMs;
    status.duration = durationFromMs(Math.max(0, finishedMs - startedMs));
    if (run.meta) run.meta.modified = status.finished;
    const revision = await this.options.runs.put(run);
    if (run.meta) run.meta.revision = BigInt(revision);
    return run;
  }

  /**
   * Lease → call → (retry | retire) for one call: prepared once (secrets,
   * input schema, the request in its wire form), then sent to an instance.
   */
  private async call(run: Run, fn: FunctionResource, request: InvokeRequest): Promise<CallAnswer> {
    const secrets = await this.mergeSecrets(fn, request);
    const timeoutMs = callTimeoutMs(fn, this.options.defaultTimeoutMs);
    const deadline = Date.now() + timeoutMs;
    const send = this.prepare(run, fn, request, secrets, deadline, timeoutMs);
    // A call that never reached a worker (its process was ending and refused
    // the connection) is made again on another instance, within the deadline.
    for (let attempt = 1; ; attempt++) {
      const lease = await this.lease(request, timeoutMs, deadline);
      try {
        return await send(lease.instance);
      } catch (err) {
        if (!(err instanceof WorkerCallError)) throw err;
        if (err.notSent) {
          lease.unreachable();
          if (attempt < maxAttempts && Date.now() < deadline) continue;
        }
        // The caller left: nothing is wrong with the worker.
        if (err.failure === "abandoned") throw new RunFailure(ErrorType.SYSTEM_ERROR, err.message);
        // A worker that misses the deadline by the grace period may be wedged
        // (a handler that never yields): it is retired unless it still answers,
        // before its slot goes back to the pool.
        if (err.timedOut && !(await probeWorker(lease.instance.url, 1000))) lease.retire();
        throw new RunFailure(
          ErrorType.SYSTEM_ERROR,
          await describeFailure(err, lease.instance, timeoutMs),
          [],
          502,
        );
      } finally {
        lease.release();
      }
    }
  }

  /** The call in its wire form, checked before any instance is woken for it. */
  private prepare(
    run: Run,
    fn: FunctionResource,
    request: InvokeRequest,
    secrets: Record<string, string>,
    deadline: number,
    timeoutMs: number,
  ): Send {
    const runId = run.meta?.name ?? "";
    switch (request.wire) {
      case "invoke": {
        const input = request.input ? toJson(ValueSchema, request.input) : null;
        this.checkInput(fn, input);
        const body = {
          payload: input,
          context: {
            secrets,
            deadline: new Date(deadline).toISOString(),
            event: null,
            http: null,
            function: request.function,
            runId,
          },
        };
        return async (instance) => {
          const answer = await callWorker(instance, body, Math.max(1, deadline - Date.now()) + graceMs);
          return { logs: answer.logs, error: answer.error, output: answer.output };
        };
      }
      case "event": {
        const data = eventJsonData(request.event);
        if (data !== undefined) this.checkInput(fn, data);
        const { headers, body } = eventRequest(request.event);
        const callHeaders = { ...headers, ...platformHeaders(runId, secrets, "an event delivery") };
        // The worker counts the function's timeout from when the request comes
        // (DISPATCH_TIMEOUT_MS): the backstop allows that much from the send.
        return async (instance) =>
          eventAnswer(await sendToWorker(instance, "/event", callHeaders, body, timeoutMs + graceMs));
      }
      case "http": {
        const callHeaders = platformHeaders(runId, secrets, "an HTTP call");
        const { exchange } = request;
        return async (instance) =>
          httpAnswer(await passThrough(instance, exchange, callHeaders, timeoutMs + graceMs));
      }
    }
  }

  /** Checks a JSON payload against the function's input schema. */
  private checkInput(fn: FunctionResource, input: JsonValue): void {
    const schemaIn = fn.spec?.schema?.in;
    if (!schemaIn) return;
    const problems = this.checkSchema(fn, "in", schemaIn, input);
    if (problems.length > 0) {
      throw new RunFailure(
        ErrorType.INPUT_ERROR,
        `the input does not match the function's input schema: ${problems.join("; ")}`,
      );
    }
  }

  /**
   * A call slot for the function: a free one on a warm instance at once (no
   * timer on that path), else waiting, with the wait counted against the
   * deadline (and, over HTTP, given up when the caller leaves).
   */
  private async lease(request: InvokeRequest, timeoutMs: number, deadline: number): Promise<Lease> {
    const free = this.options.scheduler.tryAcquire(request.org, request.function);
    if (free) return free.lease;
    const expired = AbortSignal.timeout(Math.max(1, deadline - Date.now()));
    const caller = request.wire === "http" ? request.exchange.signal : undefined;
    const waiting = caller ? AbortSignal.any([expired, caller]) : expired;
    try {
      return (await this.options.scheduler.acquire(request.org, request.function, waiting)).lease;
    } catch (err) {
      const noInstance = (message: string) => new RunFailure(ErrorType.SYSTEM_ERROR, message, [], 503);
      if (caller?.aborted) throw noInstance("the client went away while the function was waking");
      if (err instanceof NotServingError) throw noInstance(err.message);
      if (err instanceof InstanceQuotaError) {
        throw noInstance(`no instance could start within ${timeoutMs / 1000}s: ${err.message}`);
      }
      if (expired.aborted) throw noInstance(`no instance became ready within ${timeoutMs / 1000}s`);
      throw noInstance((err as Error).message);
    }
  }

  /** Problems of a value against the function's schema; a schema that cannot be used fails the call. */
  private checkSchema(
    fn: FunctionResource,
    direction: "in" | "out",
    schema: JsonObject,
    value: unknown,
  ): string[] {
    try {
      return this.options.schemas.check(schemaKey(fn, direction), schema, value);
    } catch (err) {
      if (!(err instanceof SchemaError)) throw err;
      throw new RunFailure(
        ErrorType.FUNCTION_ERROR,
        `the function's ${direction === "in" ? "input" : "output"} schema cannot be used: ${err.message}; update the function`,
      );
    }
  }

  /** The function's secrets, then the call's, merged key by key (later wins). */
  private async mergeSecrets(fn: FunctionResource, request: InvokeRequest): Promise<Record<string, string>> {
    const merged: Record<string, string> = {};
    const named = [
      ...(fn.spec?.secrets ?? []).map((name) => ({ name, from: "the function names it in spec.secrets" })),
      ...request.secrets.map((name) => ({ name, from: "it was passed with the call" })),
    ];
    const missing: string[] = [];
    for (const { name, from } of named) {
      const secret = await this.options.secrets.get(`${request.org}.${name}`);
      if (!secret) missing.push(`secret "${name}" not found in org "${request.org}" (${from})`);
      else Object.assign(merged, secret.object.spec?.data ?? {});
    }
    if (missing.length > 0) throw new RunFailure(ErrorType.INPUT_ERROR, missing.join("; "));
    return merged;
  }
}

/** The trigger a run records: the server's to say, from the wire form (clients never choose it). */
function triggerOf(request: InvokeRequest): Trigger {
  switch (request.wire) {
    case "invoke":
      return Trigger.EXEC;
    case "event":
      return Trigger.EVENT;
    case "http":
      return Trigger.HTTP;
  }
}

/** The bytes of a call's input in its run record (an event whole, data and attributes). */
function inputSize(request: InvokeRequest): number {
  switch (request.wire) {
    case "invoke":
      return request.input === undefined ? 0 : toBinary(ValueSchema, request.input).length;
    case "event":
      return toBinary(CloudEventSchema, request.event).length;
    case "http":
      // Streamed to the worker, never recorded.
      return 0;
  }
}

/** The request as its refusal is recorded: without the input (an event keeps its attributes, not its data). */
function withoutInput(request: InvokeRequest): InvokeRequest {
  switch (request.wire) {
    case "invoke":
      return { ...request, input: undefined };
    case "event":
      return { ...request, event: create(CloudEventSchema, { ...request.event, data: { case: undefined } }) };
    case "http":
      return request;
  }
}

/**
 * What the platform adds to an `/http` or `/event` request (runtimes/CONTRACT.md):
 * the run id and the merged secrets. Secrets that a request head cannot carry
 * are refused before any instance is woken.
 */
function platformHeaders(
  runId: string,
  secrets: Record<string, string>,
  what: string,
): Record<string, string> {
  const encoded = Buffer.from(JSON.stringify(secrets)).toString("base64");
  if (encoded.length > MAX_SECRETS_HEADER_BYTES) {
    throw new RunFailure(
      ErrorType.SYSTEM_ERROR,
      `the function's secrets take ${encoded.length} bytes in the Dispatch-Secrets header; ${what} carries at most ${MAX_SECRETS_HEADER_BYTES} (runtimes/CONTRACT.md): keep the secrets of such a function smaller, or call it with dispatch exec`,
    );
  }
  return { [RUN_ID_HEADER]: runId, [SECRETS_HEADER]: encoded };
}

/**
 * The run's logs and error from the `Dispatch-Logs` and `Dispatch-Error`
 * headers of an `/http` or `/event` answer. An answer without `Dispatch-Logs`
 * did not come from a call of the handler (the worker refused the request: a
 * head too large, draining, ...), so it is a SystemError, whatever its status.
 */
function recordedAnswer(status: number, statusText: string, headers: IncomingHttpHeaders): CallAnswer {
  const logs = decodeHeader(headers[LOGS_HEADER]) as Partial<CallLogs> | undefined;
  if (logs === undefined) {
    const message = `the worker refused the request: HTTP ${status}${statusText ? ` ${statusText}` : ""}`;
    return { logs: { stdout: [], stderr: [] }, error: { type: "SystemError", message, stack: [] } };
  }
  const error = decodeHeader(headers[ERROR_HEADER]) as Partial<CallError> | undefined;
  return {
    logs: { stdout: lines(logs.stdout), stderr: lines(logs.stderr) },
    error: error
      ? { type: error.type ?? "SystemError", message: error.message ?? "", stack: lines(error.stack) }
      : null,
  };
}

function httpAnswer(head: PassThroughHead): CallAnswer {
  return recordedAnswer(head.status, head.statusText, head.headers);
}

/**
 * The outcome of an `/event` call: a reply event (binary mode), the handler's
 * result as JSON (`200`), or none (`204`); errors as for `/http`.
 */
function eventAnswer(answer: { status: number; headers: IncomingHttpHeaders; body: Buffer }): CallAnswer {
  const recorded = recordedAnswer(answer.status, "", answer.headers);
  if (recorded.error) return recorded;
  try {
    const reply = replyEvent(answer.headers, answer.body);
    if (reply) return { ...recorded, reply };
  } catch (err) {
    if (!(err instanceof InvalidReplyError)) throw err;
    return {
      ...recorded,
      error: {
        type: "FunctionError",
        message: `the reply event cannot be delivered: ${err.message}`,
        stack: [],
      },
    };
  }
  if (answer.status === 204 || answer.body.length === 0) return { ...recorded, output: null };
  try {
    return { ...recorded, output: JSON.parse(answer.body.toString("utf8")) };
  } catch (err) {
    throw new WorkerCallError(
      `the worker's answer to /event is neither an event nor JSON (runtimes/CONTRACT.md): ${answer.body.toString("utf8", 0, 200)}`,
      "broken",
      { cause: err },
    );
  }
}

/**
 * Answers an HTTP caller that got no answer of the worker's (refused,
 * nothing could serve, the worker failed before answering) with a JSON
 * error; an answer that had started is broken off, the only honest signal
 * left; nothing is written when the answer was passed on whole.
 */
function answerFailure(response: ServerResponse, failure: RunFailure | undefined): void {
  if (response.headersSent) {
    if (failure && !response.writableEnded) response.destroy();
    return;
  }
  if (!failure || response.destroyed) return;
  response.writeHead(failure.httpStatus, { "content-type": "application/json" });
  response.end(JSON.stringify({ error: { type: errorTypeName(failure.type), message: failure.message } }));
}

function decodeHeader(value: string | string[] | undefined): unknown {
  if (typeof value !== "string" || value === "") return undefined;
  try {
    return JSON.parse(Buffer.from(value, "base64").toString("utf8"));
  } catch {
    return undefined;
  }
}

function lines(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((line): line is string => typeof line === "string") : [];
}

/** Ends the run with an error. */
function fail(run: Run, err: RunFailure): void {
  const status = run.status;
  if (!status) return;
  status.phase = Phase.ERROR;
  status.error = create(RunErrorSchema, { type: err.type, message: err.message, stack: err.lines });
  status.reason = [`${errorTypeName(err.type)}: ${err.message}`];
}

/** Why a run record has a size limit, for messages. */
function recordNote(budget: RunBudget): string {
  return `a run record holds a call's input, output and logs in one NATS message of at most ${formatBytes(budget.maxPayload)}`;
}

function schemaKey(fn: FunctionResource, direction: "in" | "out"): string {
  return `${fn.meta?.uid}/${fn.meta?.generation}/${direction}`;
}

function errorTypeOf(type: string): ErrorType {
  switch (type) {
    case "InputError":
      return ErrorType.INPUT_ERROR;
    case "FunctionError":
      return ErrorType.FUNCTION_ERROR;
    default:
      return ErrorType.SYSTEM_ERROR;
  }
}

/** Attempts at a call whose worker refused the connection. */
const maxAttempts = 3;

/** A failed worker call in plain words, with how the worker ended when it did. */
async function describeFailure(err: WorkerCallError, instance: Instance, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    instance.exited,
    new Promise<undefined>((resolve) => {
      // A call that broke off most likely saw the worker die: give its exit (and the
      // reason, such as running out of memory) time to be known on a loaded machine.
      timer = setTimeout(() => resolve(undefined), err.failure === "broken" ? 5000 : 200);
    }),
  ]);
  clearTimeout(timer);
  const how = exit ? ` (${describeExit(exit)})` : "";
  const message = err.timedOut
    ? `the call did not finish within ${timeoutMs / 1000}s (the function's timeout); the worker did not answer`
    : err.message;
  return `${message}${how}`;
}

/** The name a run's error type has in the worker contract and in messages. */
function errorTypeName(type: ErrorType): string {
  switch (type) {
    case ErrorType.INPUT_ERROR:
      return "InputError";
    case ErrorType.FUNCTION_ERROR:
      return "FunctionError";
    default:
      return "SystemError";
  }
}
