import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { GetRunResponseSchema, RunService, WatchEventType, WatchRunsResponseSchema } from "@dispatch/proto";
import { createErrorInterceptor, type DualServer, listenDual } from "@dispatch/server-kit";
import { errors as natsErrors } from "@nats-io/nats-core";
import anyTest, { type TestFn } from "ava";
import { controlPlaneErrors, NatsUnavailableError } from "../src/errors.js";
import { AlreadyExistsError, NotFoundError, RevisionConflictError } from "../src/store/errors.js";
import { rejects, transports } from "./helpers.js";

/**
 * The one error interceptor, with the control plane's table, in front of a
 * real Connect server: a unary handler (RunService.Get) and a streaming one
 * (RunService.Watch) throw the error named in the request.
 */
interface Context {
  url: string;
  server: DualServer;
  logged: { message: string; error: unknown }[];
  /** Resolved when the streaming handler has ended, with what it threw (if anything). */
  streamEnded: Map<string, Deferred>;
}
interface Deferred {
  promise: Promise<unknown>;
  resolve(value: unknown): void;
}
function deferred(): Deferred {
  let resolve!: (value: unknown) => void;
  const promise = new Promise<unknown>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
const test = anyTest as TestFn<Context>;

const internalDetail = "connection string postgres://user:hunter2@db";
const errorsByName: Record<string, () => unknown> = {
  "not-found": () => new NotFoundError('function "x" not found in org "default"'),
  "already-exists": () => new AlreadyExistsError('function "x" in org "default" already exists'),
  "revision-conflict": () => new RevisionConflictError("function changed: read it again and retry", 7),
  "nats-unavailable": () => new NatsUnavailableError(new Date(0)),
  "nats-timeout": () => new natsErrors.TimeoutError(),
  "connect-error": () => new ConnectError("you may not", Code.PermissionDenied),
  unexpected: () => new TypeError(internalDetail),
  "not-an-error": () => internalDetail,
};
const expected: Record<string, { code: Code; message: RegExp }> = {
  "not-found": { code: Code.NotFound, message: /^function "x" not found in org "default"$/ },
  "already-exists": { code: Code.AlreadyExists, message: /already exists$/ },
  "revision-conflict": { code: Code.Aborted, message: /read it again and retry$/ },
  "nats-unavailable": { code: Code.Unavailable, message: /lost its connection to NATS at 1970/ },
  "nats-timeout": { code: Code.Unavailable, message: /^NATS did not answer .*try again$/ },
  "connect-error": { code: Code.PermissionDenied, message: /^you may not$/ },
  unexpected: { code: Code.Internal, message: /^internal error \(the control plane log has the details\)$/ },
  "not-an-error": {
    code: Code.Internal,
    message: /^internal error \(the control plane log has the details\)$/,
  },
};

test.before(async (t) => {
  const logged: Context["logged"] = [];
  const streamEnded: Context["streamEnded"] = new Map();
  const routes = (router: ConnectRouter) =>
    router.service(RunService, {
      async get(request) {
        if (request.name === "fine") return create(GetRunResponseSchema, {});
        throw errorsByName[request.name]?.();
      },
      async *watch(request, ctx) {
        const ended = deferred();
        streamEnded.set(request.function, ended);
        try {
          yield create(WatchRunsResponseSchema, { type: WatchEventType.SYNCED });
          if (request.function === "until-aborted") {
            // Ends when the client goes away, with an error as a store watch would.
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
            throw new Error("the watch was stopped");
          }
          throw errorsByName[request.function]?.();
        } catch (err) {
          ended.resolve(err);
          throw err;
        }
      },
    });
  const adapter = connectNodeAdapter({
    routes,
    interceptors: [
      createErrorInterceptor(controlPlaneErrors((message, error) => logged.push({ message, error }))),
    ],
  });
  // HTTP/1.1 and h2c on one port, as the control plane serves them (gRPC needs HTTP/2).
  const server = await listenDual(adapter, "127.0.0.1", 0);
  t.context = { url: `http://127.0.0.1:${server.port}`, server, logged, streamEnded };
});
test.after.always(async (t) => {
  await t.context.server?.close(1000);
});

for (const protocol of ["connect", "grpc"] as const) {
  test(`${protocol}: a unary handler's errors reach the client with the code of their class`, async (t) => {
    const runs = createClient(RunService, transports(t.context.url, undefined)[protocol]);
    t.truthy(await runs.get({ name: "fine" }));
    for (const [name, want] of Object.entries(expected)) {
      const err = await rejects(runs.get({ name }));
      t.is(err.code, want.code, `${name}: ${err.message}`);
      t.regex(err.rawMessage, want.message, name);
      t.false(err.rawMessage.includes("hunter2"), `${name}: internal detail never leaves the server`);
    }
  });

  test(`${protocol}: a streaming handler's errors reach the client with the code of their class, after what it sent`, async (t) => {
    const runs = createClient(RunService, transports(t.context.url, undefined)[protocol]);
    for (const [name, want] of Object.entries(expected)) {
      const received: WatchEventType[] = [];
      const err = await rejects(
        (async () => {
          for await (const event of runs.watch({ function: name })) received.push(event.type);
        })(),
      );
      t.deepEqual(received, [WatchEventType.SYNCED], name);
      t.is(err.code, want.code, `${name}: ${err.message}`);
      t.regex(err.rawMessage, want.message, name);
      t.false(err.rawMessage.includes("hunter2"), `${name}: internal detail never leaves the server`);
    }
  });
}

test.serial(
  "an unexpected error is logged with its detail, once per call; mapped ones are not logged",
  async (t) => {
    const runs = createClient(RunService, transports(t.context.url, undefined).connect);
    const before = t.context.logged.length;
    await rejects(runs.get({ name: "unexpected" }));
    await rejects(runs.get({ name: "not-found" }));
    await rejects(runs.get({ name: "connect-error" }));
    await rejects(
      (async () => {
        for await (const _ of runs.watch({ function: "unexpected" })) {
        }
      })(),
    );
    const logged = t.context.logged.slice(before);
    t.is(logged.length, 2, "the unary and the streaming unexpected error, nothing else");
    for (const entry of logged) {
      t.is(entry.message, "internal error");
      t.true(entry.error instanceof TypeError);
      t.is((entry.error as Error).message, internalDetail);
    }
  },
);

test.serial(
  "a stream ended by its client ends quietly: what the handler throws then is neither sent nor logged",
  async (t) => {
    const runs = createClient(RunService, transports(t.context.url, undefined).connect);
    const before = t.context.logged.length;
    const abort = new AbortController();
    const stream = runs.watch({ function: "until-aborted" }, { signal: abort.signal });
    for await (const event of stream) {
      t.is(event.type, WatchEventType.SYNCED);
      break;
    }
    abort.abort();
    // Wait until the handler has seen the abort and thrown.
    const ended = t.context.streamEnded.get("until-aborted");
    t.truthy(ended);
    const thrown = await ended?.promise;
    t.is((thrown as Error).message, "the watch was stopped");
    // The interceptor runs after the handler threw; give it the same turn to log, if it were to.
    await new Promise((resolve) => setImmediate(resolve));
    t.deepEqual(t.context.logged.slice(before), [], "nothing is logged for a stream its client ended");
  },
);
