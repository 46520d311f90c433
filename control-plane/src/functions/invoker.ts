import { randomUUID } from "node:crypto";
import { create, fromJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
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
import type { ErrorLogger } from "../errors.js";
import type { InFlightRuns } from "../store/in-flight-runs.js";
import type { ResourceStore } from "../store/resource-store.js";
import type { RunStore } from "../store/run-store.js";
import { describeExit, type Instance } from "./driver.js";
import { InstanceQuotaError } from "./instance-quota.js";
import { formatBytes } from "./limits.js";
import type { Lease } from "./revision-pool.js";
import { type RunBudget, valueSize } from "./run-size.js";
import type { Scheduler } from "./scheduler.js";
import { NotServingError } from "./scheduler.js";
import { type SchemaCheck, SchemaError } from "./schema-check.js";
import { callWorker, type InvokeResult, probeWorker, WorkerCallError } from "./worker-client.js";

/** One invocation to make. */
export interface InvokeRequest {
  org: string;
  function: string;
  input: JsonValue | undefined;
  /** Extra secrets for this call, merged after the function's own. */
  secrets: readonly string[];
  trigger: Trigger;
  /** Return the INITIALIZED run at once and finish in the background. */
  async: boolean;
}

/** What the invoker needs. */
export interface InvokerOptions {
  functions: ResourceStore<FunctionResource>;
  secrets: ResourceStore<Secret>;
  scheduler: Scheduler;
  runs: RunStore;
  schemas: SchemaCheck;
  /** Default call deadline when the function sets none. */
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
  ) {
    super(message);
  }
}

/**
 * The invoker: resolves a function to a ready instance (waking it when it
 * runs none), checks secrets and schemas, calls the worker, and records a Run
 * for every invocation. `exec`, the activator and event delivery all use it.
 */
export class Invoker {
  private readonly background = new Set<Promise<unknown>>();

  constructor(private readonly options: InvokerOptions) {}

  /**
   * Runs the function. Blocking calls resolve with the finished run (an
   * error inside the run is not an RPC error); async calls with the
   * INITIALIZED run. A missing function or one that cannot serve is an RPC error.
   */
  async run(request: InvokeRequest): Promise<Run> {
    const fn = await this.functionOf(request.org, request.function);
    const notServing = this.options.scheduler.notServing(request.org, request.function);
    if (notServing) {
      throw new ConnectError(
        `function "${request.function}" is not ready: ${notServing}`,
        Code.FailedPrecondition,
      );
    }
    // A run record holds the call's input: one that cannot be recorded is
    // refused, and the refusal recorded (without it).
    const budget = this.options.runs.budget();
    const inputBytes = request.input === undefined ? 0 : valueSize(request.input);
    if (inputBytes > budget.input) {
      const refused = this.newRun({ ...request, input: undefined }, fn);
      fail(
        refused,
        new RunFailure(
          ErrorType.INPUT_ERROR,
          `the input of ${inputBytes} bytes is more than the limit of ${budget.input} bytes (${recordNote(budget)}; pass large data by reference, e.g. a URL)`,
        ),
      );
      return await this.complete(refused);
    }
    const run = this.newRun(request, fn);
    if (request.async) {
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

  /** A new INITIALIZED run record for a call to `fn`. */
  newRun(request: Omit<InvokeRequest, "async"> & { async?: boolean }, fn: FunctionResource): Run {
    const id = randomUUID();
    const started = new Date();
    return create(RunSchema, {
      meta: create(ObjectMetaSchema, {
        name: id,
        org: request.org,
        uid: id,
        created: timestampFromDate(started),
        modified: timestampFromDate(started),
      }),
      spec: {
        function: request.function,
        secrets: [...request.secrets],
        trigger: request.trigger,
        async: request.async ?? false,
        ...(request.input === undefined ? {} : { input: fromJson(ValueSchema, request.input) }),
      },
      status: {
        phase: Phase.INITIALIZED,
        started: timestampFromDate(started),
        functionGeneration: fn.meta?.generation ?? 0n,
      },
    });
  }

  /** Waits for async runs still in progress (shutdown). */
  async drain(): Promise<void> {
    await Promise.all(this.background);
  }

  private async finish(run: Run, fn: FunctionResource, request: InvokeRequest): Promise<Run> {
    const status = run.status;
    if (!status) throw new Error("run without status");
    try {
      const result = await this.call(run, fn, request);
      status.logs = create(LogsSchema, { stdout: result.logs.stdout, stderr: result.logs.stderr });
      if (result.error) {
        throw new RunFailure(errorTypeOf(result.error.type), result.error.message, result.error.stack ?? []);
      }
      const budget = this.options.runs.budget();
      const outputBytes = valueSize((result.output ?? null) as JsonValue);
      if (outputBytes > budget.output) {
        throw new RunFailure(
          ErrorType.FUNCTION_ERROR,
          `the output of ${outputBytes} bytes is more than the limit of ${budget.output} bytes (${recordNote(budget)}; return less, or store large results elsewhere and return a reference)`,
        );
      }
      const schemaOut = fn.spec?.schema?.out;
      if (schemaOut) {
        const problems = this.checkSchema(fn, "out", schemaOut, result.output ?? null);
        if (problems.length > 0) {
          throw new RunFailure(
            ErrorType.FUNCTION_ERROR,
            `the output does not match the function's output schema: ${problems.join("; ")}`,
          );
        }
      }
      if (result.output !== undefined && result.output !== null) {
        status.output = fromJson(ValueSchema, result.output as JsonValue);
      }
      status.phase = Phase.READY;
    } catch (thrown) {
      // Whatever went wrong, the call ends as a run with an error: a caller
      // (or an async run's reader) is never left without one.
      let err: RunFailure;
      if (thrown instanceof RunFailure) err = thrown;
      else {
        this.options.log(`run ${run.meta?.name} of ${request.org}/${request.function}`, thrown);
        err = new RunFailure(
          ErrorType.SYSTEM_ERROR,
          `the platform failed this call: ${(thrown as Error).message}`,
        );
      }
      fail(run, err);
    }
    // The function was deleted (or re-created) while this call ran: its runs
    // are gone with it, so this one is not stored either.
    if (this.options.scheduler.known(request.org, request.function)?.meta?.uid !== fn.meta?.uid) return run;
    return await this.complete(run);
  }

  /** Stamps the finish time and duration on a run and stores it. */
  async complete(run: Run): Promise<Run> {
    const status = run.status;
    if (!status) throw new Error("run without status");
    const finished = new Date();
    status.finished = timestampFromDate(finished);
    const startedMs = status.started
      ? Number(status.started.seconds) * 1000 + status.started.nanos / 1e6
      : finished.getTime();
    status.duration = durationFromMs(Math.max(0, finished.getTime() - startedMs));
    if (run.meta) run.meta.modified = timestampFromDate(finished);
    const revision = await this.options.runs.put(run);
    if (run.meta) run.meta.revision = BigInt(revision);
    return run;
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

  private async call(run: Run, fn: FunctionResource, request: InvokeRequest): Promise<InvokeResult> {
    const secrets = await this.mergeSecrets(fn, request);
    const input = request.input ?? null;
    const schemaIn = fn.spec?.schema?.in;
    if (schemaIn) {
      const problems = this.checkSchema(fn, "in", schemaIn, input);
      if (problems.length > 0) {
        throw new RunFailure(
          ErrorType.INPUT_ERROR,
          `the input does not match the function's input schema: ${problems.join("; ")}`,
        );
      }
    }
    const timeout = fn.spec?.timeout;
    const timeoutMs = timeout
      ? Number(timeout.seconds) * 1000 + timeout.nanos / 1e6
      : this.options.defaultTimeoutMs;
    const deadline = new Date(Date.now() + timeoutMs);
    const body = {
      payload: input,
      context: {
        secrets,
        deadline: deadline.toISOString(),
        event: null,
        http: null,
        function: request.function,
        runId: run.meta?.name ?? "",
      },
    };
    // A call that never reached a worker (its process was ending and refused
    // the connection) is made again on another instance, within the deadline.
    for (let attempt = 1; ; attempt++) {
      const lease = await this.lease(request, timeoutMs, deadline);
      try {
        return await callWorker(lease.instance, body, Math.max(1, deadline.getTime() - Date.now()) + 2000);
      } catch (err) {
        if (!(err instanceof WorkerCallError)) throw err;
        if (err.notSent) {
          lease.unreachable();
          if (attempt < maxAttempts && Date.now() < deadline.getTime()) continue;
        }
        // A worker that misses the deadline by the grace period may be wedged
        // (a handler that never yields): it is retired unless it still answers,
        // before its slot goes back to the pool.
        if (err.timedOut && !(await probeWorker(lease.instance.url, 1000))) lease.retire();
        throw new RunFailure(ErrorType.SYSTEM_ERROR, await describeFailure(err, lease.instance, timeoutMs));
      } finally {
        lease.release();
      }
    }
  }

  /**
   * A call slot for the function: a free one on a warm instance at once (no
   * timer on that path), else waiting, with the wait counted against the deadline.
   */
  private async lease(request: InvokeRequest, timeoutMs: number, deadline: Date): Promise<Lease> {
    const free = this.options.scheduler.tryAcquire(request.org, request.function);
    if (free) return free.lease;
    const waiting = AbortSignal.timeout(Math.max(1, deadline.getTime() - Date.now()));
    try {
      return (await this.options.scheduler.acquire(request.org, request.function, waiting)).lease;
    } catch (err) {
      if (err instanceof NotServingError) throw new RunFailure(ErrorType.SYSTEM_ERROR, err.message);
      if (err instanceof InstanceQuotaError) {
        throw new RunFailure(
          ErrorType.SYSTEM_ERROR,
          `no instance could start within ${timeoutMs / 1000}s: ${err.message}`,
        );
      }
      if (waiting.aborted) {
        throw new RunFailure(ErrorType.SYSTEM_ERROR, `no instance became ready within ${timeoutMs / 1000}s`);
      }
      throw new RunFailure(ErrorType.SYSTEM_ERROR, (err as Error).message);
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

  /**
   * The secrets a call of `fn` gets, or what is missing: for callers outside
   * the invoker's own path (the activator's HTTP pass-through).
   */
  async secretsFor(
    org: string,
    fn: FunctionResource,
  ): Promise<{ secrets: Record<string, string> } | { missing: string }> {
    try {
      const request = {
        org,
        function: fn.meta?.name ?? "",
        input: undefined,
        secrets: [],
        trigger: Trigger.HTTP,
        async: false,
      };
      return { secrets: await this.mergeSecrets(fn, request) };
    } catch (err) {
      if (err instanceof RunFailure) return { missing: err.message };
      throw err;
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
export function errorTypeName(type: ErrorType): string {
  switch (type) {
    case ErrorType.INPUT_ERROR:
      return "InputError";
    case ErrorType.FUNCTION_ERROR:
      return "FunctionError";
    default:
      return "SystemError";
  }
}
