import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { join } from "node:path";
import type { Writable } from "node:stream";
import test, { type ExecutionContext } from "ava";
import type { CallError, CallLogs, InvokeResponse, Runtime, WorkerStats } from "../src/index.js";
import { fixtureFiles, handlerFor } from "./fixtures.js";
import {
  decodeHeader,
  eventually,
  invoke,
  rawExchange,
  request,
  startWorker,
  type TestWorker,
  workerToken,
  writeBundle,
} from "./worker-process.js";

// CONTRACT.md, served the same by both workers: each test starts a real worker process on one
// fixture handler and talks HTTP to it.

const runtimes: Runtime[] = ["nodejs", "python3"];
const bundles = new Map<Runtime, string>();

test.before(async () => {
  for (const runtime of runtimes) bundles.set(runtime, await writeBundle(fixtureFiles[runtime]));
});
test.after.always(async () => {
  for (const dir of bundles.values()) await rm(dir, { recursive: true, force: true });
});

/** Runs `body` against a worker serving fixture `name`, and stops it after. */
async function withWorker(
  t: ExecutionContext,
  runtime: Runtime,
  name: string,
  body: (worker: TestWorker) => Promise<void>,
  env: Record<string, string> = {},
): Promise<void> {
  const worker = await startWorker({
    runtime,
    dir: bundles.get(runtime) as string,
    handler: handlerFor(runtime, name),
    env,
  });
  t.teardown(() => worker.stop());
  await body(worker);
}

/** A call's `context.deadline`, `ms` from now: an input the worker must honour, not a measurement. */
const deadlineIn = (ms: number) => new Date(Date.now() + ms).toISOString();

for (const runtime of runtimes) {
  test(`${runtime}: the ready line names the port, and /healthz answers ok`, async (t) => {
    await withWorker(t, runtime, "greet", async (worker) => {
      t.true(worker.stdout.includes(`DISPATCH_READY {"port": ${worker.port}}`));
      const health = await request(`${worker.url}/healthz`);
      t.is(health.status, 200);
      t.deepEqual(health.json(), { status: "ok" });
    });
  });

  test(`${runtime}: a request without the worker credential, or with a wrong one, gets 401 and runs nothing`, async (t) => {
    await withWorker(t, runtime, "counts", async (worker) => {
      const attempts = [
        { path: "/invoke", method: "POST", body: "{}", token: null },
        { path: "/invoke", method: "POST", body: "{}", token: `${workerToken}x` },
        { path: "/invoke", method: "POST", body: "{}", token: "" },
        { path: "/http/x", method: "GET", token: null },
        { path: "/http/x", method: "POST", body: "{}", token: workerToken.slice(0, -1) },
        { path: "/event", method: "POST", body: "{}", token: "nope" },
        { path: "/nowhere", method: "GET", token: null },
      ];
      for (const { path, method, body, token } of attempts) {
        const answer = await request(`${worker.url}${path}`, { method, token, ...(body ? { body } : {}) });
        t.is(answer.status, 401, `${method} ${path} with ${token === null ? "no" : "a wrong"} credential`);
        const { error } = answer.json() as { error: CallError };
        t.regex(
          error.message,
          /takes calls only from Dispatch: the dispatch-worker-token header is missing or wrong/,
        );
      }
      t.is((await request(`${worker.url}/healthz`, { token: null })).status, 200, "the probe needs none");
      const first = await invoke(worker, null);
      t.deepEqual(
        first.output,
        { calls: 1, tokenInEnv: false, headers: null },
        "no refused request reached the handler",
      );
      const http = await request(`${worker.url}/http/x`, { headers: { "x-mine": "1" } });
      const { headers } = http.json() as { headers: string[] };
      t.true(headers.includes("x-mine"));
      t.false(headers.includes("dispatch-worker-token"), "the credential is not in context.http.headers");
    });
  });

  test(`${runtime}: GET /stats reports calls in flight, whoever sent them, and the worker's idle time`, async (t) => {
    await withWorker(t, runtime, "sleeps", async (worker) => {
      const stats = async () => {
        const answer = await request(`${worker.url}/stats`);
        t.is(answer.status, 200);
        return answer.json() as WorkerStats;
      };
      const fresh = await stats();
      t.is(fresh.inFlight, 0);
      t.is(fresh.calls, 0);
      t.false(fresh.draining);
      t.true(Number.isInteger(fresh.idleMs) && fresh.idleMs >= 0, `idleMs ${fresh.idleMs}`);
      // Two calls held inside the handler; the report counts both, and reading it is no call.
      const release = join(bundles.get(runtime) as string, `release-${randomUUID()}`);
      const held = [1, 2].map((i) => {
        const marker = join(bundles.get(runtime) as string, `started-${randomUUID()}-${i}`);
        return {
          marker,
          answer: request(`${worker.url}/http/hold`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ until: release, marker }),
          }),
        };
      });
      await eventually(() => held.every(({ marker }) => existsSync(marker)));
      const busy = await stats();
      t.deepEqual(busy, { inFlight: 2, idleMs: 0, calls: 2, draining: false });
      await writeFile(release, "go");
      for (const { answer } of held) t.is((await answer).status, 200);
      const after = await stats();
      t.is(after.inFlight, 0);
      t.is(after.calls, 2, "the reports read in between are not calls");
      t.true(Number.isInteger(after.idleMs) && after.idleMs >= 0);
    });
  });

  test(`${runtime}: GET /stats needs the worker credential; only GET is allowed`, async (t) => {
    await withWorker(t, runtime, "echo", async (worker) => {
      t.is((await request(`${worker.url}/stats`, { token: null })).status, 401);
      t.is((await request(`${worker.url}/stats`, { token: "nope-nope-nope-nope" })).status, 401);
      const post = await request(`${worker.url}/stats`, { method: "POST", body: "{}" });
      t.is(post.status, 405);
      t.is(post.headers.allow, "GET");
    });
  });

  test(`${runtime}: invoke passes the payload and returns the output`, async (t) => {
    await withWorker(t, runtime, "greet", async (worker) => {
      const answer = await invoke(worker, { name: "Jon", place: "Winterfell" });
      t.deepEqual(answer.output, { myField: "Hello, Jon from Winterfell" });
      t.is(answer.error, null);
      t.deepEqual(answer.logs, { stdout: [], stderr: [] });
      t.true(typeof answer.durationMs === "number" && answer.durationMs >= 0);
    });
  });

  test(`${runtime}: invoke takes any JSON as payload, a literal 42 too`, async (t) => {
    await withWorker(t, runtime, "echo", async (worker) => {
      t.is((await invoke(worker, 42)).output, 42);
      t.deepEqual((await invoke(worker, [1, "two", null])).output, [1, "two", null]);
      t.is((await invoke(worker, null)).output, null);
    });
  });

  test(`${runtime}: what a call writes to stdout and stderr comes back in its logs`, async (t) => {
    await withWorker(t, runtime, "prints", async (worker) => {
      const { logs, output } = await invoke(worker, {});
      t.is(output, null);
      t.is(logs.stdout[0], "to stdout");
      t.deepEqual(logs, { stdout: ["to stdout"], stderr: ["to stderr"] });
      t.false(worker.stdout.includes("to stdout"), "a call's output is not the worker's own");
    });
  });

  test(`${runtime}: 20 concurrent calls each get only their own output`, async (t) => {
    await withWorker(t, runtime, "tagged", async (worker) => {
      const ids = Array.from({ length: 20 }, (_, i) => `call-${i}`);
      const answers = await Promise.all(
        ids.map((id, i) => invoke(worker, { id, pause: ((i * 7) % 5) / 50 })),
      );
      for (const [i, answer] of answers.entries()) {
        const id = ids[i];
        t.is(answer.output, id);
        t.deepEqual(answer.logs, { stdout: [`start ${id}`, `end ${id}`], stderr: [`err ${id}`] });
      }
    });
  });

  test(`${runtime}: context carries secrets, function, runId and the deadline`, async (t) => {
    await withWorker(t, runtime, "contextFields", async (worker) => {
      const deadline = deadlineIn(60_000);
      const answer = await invoke(worker, {}, { secrets: { token: "s3cret" }, deadline, runId: "run-1" });
      const fields = answer.output as Record<string, unknown>;
      t.deepEqual(fields.secrets, { token: "s3cret" });
      t.is(fields.function, "test-fn", "the function's name comes from DISPATCH_FUNCTION");
      t.is(fields.runId, "run-1");
      t.is(new Date(fields.deadline as string).getTime(), new Date(deadline).getTime());
      t.true(fields.deadlineIsDate);

      // The implied deadline is 30 s after the worker received the call, which was
      // between sending it and reading the answer (however long that took here).
      const sent = Date.now();
      const defaults = (await invoke(worker, {})).output as Record<string, unknown>;
      const answered = Date.now();
      t.deepEqual(defaults.secrets, {});
      t.is(defaults.runId, null);
      const implied = new Date(defaults.deadline as string).getTime();
      t.true(
        implied >= sent + 30_000 - 1 && implied <= answered + 30_000 + 1,
        "DISPATCH_TIMEOUT_MS (default 30 s) sets the deadline",
      );
    });
  });

  test(`${runtime}: context.logger writes lines to the call's stdout and stderr`, async (t) => {
    await withWorker(t, runtime, "logs", async (worker) => {
      const { logs } = await invoke(worker, {});
      t.deepEqual(logs, { stdout: ["info 1", "debug"], stderr: ["warn", "error"] });
    });
  });

  test(`${runtime}: a thrown error is a FunctionError with its message and stack`, async (t) => {
    await withWorker(t, runtime, "fails", async (worker) => {
      const { output, error, logs } = await invoke(worker, {});
      t.is(output, null);
      t.is(error?.type, "FunctionError");
      t.is(error?.message, "something broke");
      t.true((error?.stack.length ?? 0) > 1);
      t.true(
        error?.stack.some((line) => line.includes("fixtures")),
        "the stack points at the handler",
      );
      t.false(
        error?.stack.some((line) => line.includes("worker")),
        "but not at the worker",
      );
      t.true(
        logs.stderr.some((line) => line.includes("something broke")),
        "the stack goes to stderr too",
      );
    });
  });

  test(`${runtime}: an error of another class than Error or Exception leads its message with the class`, async (t) => {
    await withWorker(t, runtime, "failsTyped", async (worker) => {
      const { error } = await invoke(worker, { id: 7 });
      t.is(error?.type, "FunctionError");
      t.is(error?.message, 'TypeError: no order in {"id":7}');
      const answer = await request(`${worker.url}/http/x`);
      t.is(
        (decodeHeader(answer.headers["dispatch-error"]) as CallError).message,
        "TypeError: no order in {}",
      );
    });
  });

  test(`${runtime}: an error with an empty message is its class alone`, async (t) => {
    await withWorker(t, runtime, "notFound", async (worker) => {
      const { error } = await invoke(worker, {});
      t.is(error?.message, "NotFound");
    });
  });

  test(`${runtime}: an error named InputError is an InputError`, async (t) => {
    await withWorker(t, runtime, "rejects", async (worker) => {
      const { error } = await invoke(worker, {});
      t.is(error?.type, "InputError");
      t.is(error?.message, "name is required");
    });
  });

  test(`${runtime}: an error whose class extends one named InputError is an InputError`, async (t) => {
    await withWorker(t, runtime, "rejectsNarrowly", async (worker) => {
      const { error } = await invoke(worker, {});
      t.is(error?.type, "InputError");
      t.is(error?.message, "name is required");
    });
  });

  test(`${runtime}: a result that is not JSON is a FunctionError`, async (t) => {
    await withWorker(t, runtime, "notJson", async (worker) => {
      const { output, error } = await invoke(worker, {});
      t.is(output, null);
      t.is(error?.type, "FunctionError");
      t.regex(error?.message ?? "", /cannot be encoded as JSON/);
    });
  });

  test(`${runtime}: past the deadline a call is a SystemError, and the worker keeps serving`, async (t) => {
    await withWorker(t, runtime, "sleeps", async (worker) => {
      // The handler sleeps 20 s; the answer comes at the deadline (the test
      // would time out otherwise), as a SystemError without the handler's result.
      const late = await invoke(worker, { seconds: 20 }, { deadline: deadlineIn(2000) });
      t.is(late.output, null);
      t.deepEqual(late.error, { type: "SystemError", message: late.error?.message, stack: [] });
      t.regex(late.error?.message ?? "", /^timed out after \d+(\.\d+)?s$/);

      const quick = await invoke(worker, { seconds: 0 });
      t.is(quick.output, "woke");
      t.is(quick.error, null);

      const gone = await invoke(worker, { seconds: 0 }, { deadline: deadlineIn(-1000) });
      t.is(gone.error?.type, "SystemError", "a deadline already past fails at once");
    });
  });

  test(`${runtime}: DISPATCH_TIMEOUT_MS is the deadline of a call that brings none`, async (t) => {
    await withWorker(
      t,
      runtime,
      "sleeps",
      async (worker) => {
        // Held until a file that never comes: only the deadline ends this call.
        const late = await invoke(worker, { until: "/nonexistent/never" });
        t.is(late.error?.type, "SystemError");
        t.is(late.error?.message, "timed out after 0.3s");
      },
      { DISPATCH_TIMEOUT_MS: "300" },
    );
  });

  test(`${runtime}: a request that is not the invoke shape gets 400`, async (t) => {
    await withWorker(t, runtime, "echo", async (worker) => {
      for (const body of [
        "not json",
        "[1]",
        JSON.stringify({ context: { secrets: 3 } }),
        JSON.stringify({ context: { deadline: "soon" } }),
      ]) {
        const answer = await request(`${worker.url}/invoke`, { method: "POST", body });
        t.is(answer.status, 400, body);
        t.is((answer.json() as { error: CallError }).error.type, "InputError");
      }
      t.is((await request(`${worker.url}/invoke`)).status, 405);
      t.is((await request(`${worker.url}/nowhere`)).status, 404);
    });
  });

  test(`${runtime}: /http passes a JSON body, method, path, query and headers`, async (t) => {
    await withWorker(t, runtime, "http", async (worker) => {
      const answer = await request(`${worker.url}/http/users/7?x=1&x=2&y=`, {
        method: "PUT",
        headers: { "content-type": "application/json; charset=utf-8" },
        body: JSON.stringify({ name: "Jon" }),
      });
      t.is(answer.status, 200);
      t.is(answer.headers["content-type"], "application/json");
      t.deepEqual(answer.json(), {
        method: "PUT",
        path: "/users/7",
        query: { x: ["1", "2"], y: "" },
        contentType: "application/json; charset=utf-8",
        payload: { name: "Jon" },
      });
      t.deepEqual(decodeHeader(answer.headers["dispatch-logs"]), { stdout: [], stderr: [] });
      t.is(answer.headers["dispatch-error"], undefined);
    });
  });

  test(`${runtime}: /http turns a form body into an object, text into a string, bytes into base64`, async (t) => {
    await withWorker(t, runtime, "http", async (worker) => {
      const form = await request(`${worker.url}/http/form`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "name=Jon+Snow&place=Winterfell&tag=a&tag=b",
      });
      t.deepEqual((form.json() as { payload: unknown }).payload, {
        name: "Jon Snow",
        place: "Winterfell",
        tag: ["a", "b"],
      });
      const text = await request(`${worker.url}/http`, {
        method: "POST",
        headers: { "content-type": "text/plain" },
        body: "hello",
      });
      t.like(text.json(), { path: "/", payload: "hello" });
      // text/json and +json types are JSON, as the API and the broker read them; text/jsonx is text.
      for (const [type, payload] of [
        ["text/json", { a: 1 }],
        ["application/ld+json", { a: 1 }],
        ["text/jsonx", '{"a":1}'],
      ] as const) {
        const answer = await request(`${worker.url}/http/j`, {
          method: "POST",
          headers: { "content-type": type },
          body: '{"a":1}',
        });
        t.deepEqual((answer.json() as { payload: unknown }).payload, payload, type);
      }
      const bytes = await request(`${worker.url}/http/b`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: Buffer.from([0, 1, 2, 255]),
      });
      t.is((bytes.json() as { payload: unknown }).payload, Buffer.from([0, 1, 2, 255]).toString("base64"));
      const bad = await request(`${worker.url}/http/b`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{nope",
      });
      t.is(bad.status, 400);
      t.is((decodeHeader(bad.headers["dispatch-error"]) as CallError).type, "InputError");
    });
  });

  test(`${runtime}: /http gives a body-less request its query parameters as payload`, async (t) => {
    await withWorker(t, runtime, "http", async (worker) => {
      const answer = await request(`${worker.url}/http/hello?name=Jon&place=Winterfell`);
      t.deepEqual(answer.json(), {
        method: "GET",
        path: "/hello",
        query: { name: "Jon", place: "Winterfell" },
        contentType: null,
        payload: { name: "Jon", place: "Winterfell" },
      });
    });
  });

  test(`${runtime}: /http sends a {statusCode, headers, body} result as the response`, async (t) => {
    await withWorker(t, runtime, "httpResponse", async (worker) => {
      const answer = await request(`${worker.url}/http/things`, { method: "POST" });
      t.is(answer.status, 201);
      t.is(answer.headers["x-made-by"], "handler");
      t.is(answer.headers["content-type"], "text/plain");
      t.is(answer.text, "created");
    });
  });

  test(`${runtime}: /http maps errors to 400 and 500, with the run in Dispatch-* headers and no stack in the body`, async (t) => {
    for (const [name, status, type] of [
      ["rejects", 400, "InputError"],
      ["fails", 500, "FunctionError"],
    ] as const) {
      await withWorker(t, runtime, name, async (worker) => {
        const answer = await request(`${worker.url}/http/x`);
        t.is(answer.status, status);
        const { error } = answer.json() as { error: CallError };
        t.is(error.type, type);
        // The caller gets type and message; the whole error, stack too, is the Run's.
        const recorded = decodeHeader(answer.headers["dispatch-error"]) as CallError;
        t.deepEqual(error, { type: recorded.type, message: recorded.message });
        if (type === "FunctionError") t.true(recorded.stack.length > 0, "the Run keeps the stack");
        const logs = decodeHeader(answer.headers["dispatch-logs"]) as CallLogs;
        t.true(logs.stderr.length > 0, "the stack is in the call's stderr");
      });
    }
  });

  test(`${runtime}: /http answers a result whose headers HTTP cannot carry with a FunctionError`, async (t) => {
    await withWorker(t, runtime, "badHeader", async (worker) => {
      const answer = await request(`${worker.url}/http/x`);
      t.is(answer.status, 500);
      const { error } = answer.json() as { error: CallError };
      t.is(error.type, "FunctionError");
      t.regex(error.message, /x-price/);
    });
  });

  test(`${runtime}: a 204 result goes out without a body, and the connection carries the next request`, async (t) => {
    await withWorker(t, runtime, "noContent", async (worker) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      t.teardown(() => agent.destroy());
      const empty = await request(`${worker.url}/http/x`, { agent });
      t.is(empty.status, 204);
      t.is(empty.text, "");
      const health = await request(`${worker.url}/healthz`, { agent });
      t.is(health.status, 200);
      t.true(health.reusedSocket);
    });
  });

  test(`${runtime}: a reply event whose content type HTTP cannot carry is a FunctionError, not a header`, async (t) => {
    await withWorker(t, runtime, "badReplyType", async (worker) => {
      const answer = await request(`${worker.url}/event`, {
        method: "POST",
        headers: { "ce-specversion": "1.0", "ce-id": "e-1", "ce-source": "/s", "ce-type": "ping" },
      });
      t.is(answer.status, 500);
      t.is(answer.headers["x-injected"], undefined);
      t.is((answer.json() as { error: CallError }).error.type, "FunctionError");
    });
  });

  test(`${runtime}: a failed call leaves its keep-alive connection open for the next request`, async (t) => {
    await withWorker(t, runtime, "fails", async (worker) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      t.teardown(() => agent.destroy());
      const failed = await request(`${worker.url}/http/x`, { agent });
      t.is(failed.status, 500);
      t.not(failed.headers.connection, "close");
      const invalid = await request(`${worker.url}/invoke`, { method: "POST", body: "not json", agent });
      t.is(invalid.status, 400);
      t.not(invalid.headers.connection, "close");
      const health = await request(`${worker.url}/healthz`, { agent });
      t.is(health.status, 200);
      t.true(invalid.reusedSocket && health.reusedSocket, "one connection carried all three");
    });
  });

  test(`${runtime}: a request whose end cannot be found gets Connection: close, and the connection closes`, async (t) => {
    await withWorker(t, runtime, "echo", async (worker) => {
      const response = await rawExchange(
        worker.port,
        `POST /invoke HTTP/1.1\r\nHost: worker\r\ndispatch-worker-token: ${workerToken}\r\nContent-Length: many\r\n\r\n`,
      );
      t.regex(response, /^HTTP\/1\.1 400 /);
      t.regex(response, /\r\nconnection: close\r\n/i);
    });
  });

  test(`${runtime}: /http answers 504 when the call passes its deadline`, async (t) => {
    await withWorker(
      t,
      runtime,
      "sleeps",
      async (worker) => {
        const answer = await request(`${worker.url}/http/x`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ until: "/nonexistent/never" }),
        });
        t.is(answer.status, 504);
        t.is((answer.json() as { error: CallError }).error.type, "SystemError");
      },
      { DISPATCH_TIMEOUT_MS: "200" },
    );
  });

  test(`${runtime}: long logs come whole from /invoke, and as their last lines in Dispatch-Logs`, async (t) => {
    await withWorker(t, runtime, "noisy", async (worker) => {
      const whole = await invoke(worker, { lines: 2000 });
      t.is(whole.logs.stdout.length, 2000);
      t.is(whole.logs.stdout[1999], "line 1999 of many");

      const answer = await request(`${worker.url}/http/x`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ lines: 2000 }),
      });
      t.is(answer.status, 200);
      const header = answer.headers["dispatch-logs"] as string;
      t.true(header.length <= 8192);
      const logs = decodeHeader(header) as CallLogs;
      t.regex(logs.stdout[0] as string, /^\[\d+ earlier lines dropped to fit the Dispatch-Logs header\]$/);
      t.is(logs.stdout.at(-1), "line 1999 of many");
      t.true(logs.stdout.length > 50);
    });
  });

  test(`${runtime}: /event reads a binary-mode CloudEvent: ce-* attributes and data`, async (t) => {
    await withWorker(t, runtime, "event", async (worker) => {
      const answer = await request(`${worker.url}/event`, {
        method: "POST",
        headers: {
          "ce-specversion": "1.0",
          "ce-id": "e-1",
          "ce-source": "/orders",
          "ce-type": "order.created",
          "ce-subject": "Euro%20%E2%82%AC%20%F0%9F%98%80",
          "content-type": "application/json",
        },
        body: JSON.stringify({ order: 7 }),
      });
      t.is(answer.status, 200);
      t.deepEqual(answer.json(), { type: "order.created", subject: "Euro € 😀", payload: { order: 7 } });
      t.deepEqual(decodeHeader(answer.headers["dispatch-logs"]), { stdout: [], stderr: [] });

      const ignored = await request(`${worker.url}/event`, {
        method: "POST",
        headers: { "ce-specversion": "1.0", "ce-id": "e-2", "ce-source": "/s", "ce-type": "ignore" },
      });
      t.is(ignored.status, 204, "a null result is 204");

      const notAnEvent = await request(`${worker.url}/event`, {
        method: "POST",
        headers: { "ce-id": "e-3" },
      });
      t.is(notAnEvent.status, 400);
      t.regex(
        (notAnEvent.json() as { error: CallError }).error.message,
        /missing ce-specversion, ce-source, ce-type/,
      );
    });
  });

  test(`${runtime}: /event sends a {type, source, data} result back as a binary-mode reply event`, async (t) => {
    await withWorker(t, runtime, "replyEvent", async (worker) => {
      const answer = await request(`${worker.url}/event`, {
        method: "POST",
        headers: {
          "ce-specversion": "1.0",
          "ce-id": "e-1",
          "ce-source": "/s",
          "ce-type": "ping",
          "content-type": "text/plain",
        },
        body: "hi",
      });
      t.is(answer.status, 200);
      t.is(answer.headers["ce-type"], "com.example.replied");
      t.is(answer.headers["ce-source"], "/replier");
      t.is(answer.headers["ce-specversion"], "1.0");
      t.is(answer.headers["ce-subject"], "Euro%20%E2%82%AC%20%F0%9F%98%80", "HTTP binding §3.1.3.2 encoding");
      t.truthy(answer.headers["ce-id"]);
      t.regex(String(answer.headers["content-type"]), /^application\/json/);
      t.deepEqual(answer.json(), { got: "hi" });
    });
  });

  test(`${runtime}: SIGTERM turns /healthz and new calls to 503, lets the call in flight finish, then exits 0`, async (t) => {
    await withWorker(t, runtime, "sleeps", async (worker) => {
      // Keep-alive connections, as the control plane's pool uses: a draining worker closes
      // each one it answers on, and says so.
      const keepAlive = () => {
        const agent = new Agent({ keepAlive: true });
        t.teardown(() => agent.destroy());
        return agent;
      };
      const marker = join(bundles.get(runtime) as string, `started-${randomUUID()}`);
      // The call in flight is held until the checks below are done, however slow the machine.
      const release = join(bundles.get(runtime) as string, `release-${randomUUID()}`);
      const inFlight = request(`${worker.url}/invoke`, {
        method: "POST",
        body: JSON.stringify({ payload: { until: release, marker } }),
        agent: keepAlive(),
      });
      await eventually(() => existsSync(marker));
      worker.child.kill("SIGTERM");
      const health = await eventually(async () => {
        const answer = await request(`${worker.url}/healthz`, { agent: keepAlive() });
        return answer.status === 503 ? answer : undefined;
      });
      t.deepEqual(health.json(), { status: "draining" });
      t.is(health.headers.connection, "close");
      const refused = await request(`${worker.url}/invoke`, {
        method: "POST",
        body: "{}",
        agent: keepAlive(),
      });
      t.is(refused.status, 503);
      t.is(refused.headers.connection, "close");
      await writeFile(release, "go");
      const answered = await inFlight;
      t.is((answered.json() as InvokeResponse).output, "woke");
      t.is(answered.headers.connection, "close", "the call in flight at SIGTERM closes its connection too");
      t.deepEqual(await worker.exited, { code: 0, signal: null });
    });
  });

  test(`${runtime}: SIGTERM waits no longer than DISPATCH_DRAIN_MS for calls in flight`, async (t) => {
    await withWorker(
      t,
      runtime,
      "sleeps",
      async (worker) => {
        const marker = join(bundles.get(runtime) as string, `started-${randomUUID()}`);
        const inFlight = invoke(worker, { seconds: 20, marker }).catch((error: Error) => error);
        await eventually(() => existsSync(marker));
        // The call would take 20 s; the worker exits after the 300 ms drain
        // (the test would time out otherwise) and the call is cut off.
        worker.child.kill("SIGTERM");
        t.deepEqual(await worker.exited, { code: 0, signal: null });
        t.true((await inFlight) instanceof Error, "the call was cut off");
      },
      { DISPATCH_DRAIN_MS: "300" },
    );
  });

  test(`${runtime}: with DISPATCH_LIFELINE_FD the worker drains and exits when that pipe ends`, async (t) => {
    const worker = await startWorker({
      runtime,
      dir: bundles.get(runtime) as string,
      handler: handlerFor(runtime, "echo"),
      lifeline: true,
    });
    t.teardown(() => worker.stop());
    t.is((await request(`${worker.url}/healthz`)).status, 200, "an open lifeline keeps it serving");
    (worker.child.stdio[3] as Writable).end();
    t.deepEqual(await worker.exited, { code: 0, signal: null });
  });

  test(`${runtime}: SIGTERM with nothing in flight exits 0 at once`, async (t) => {
    await withWorker(t, runtime, "echo", async (worker) => {
      worker.child.kill("SIGTERM");
      t.deepEqual(await worker.exited, { code: 0, signal: null });
    });
  });
}

test("python3: with DISPATCH_MEMORY_LIMIT, an allocation past it is a MemoryError that says out of memory, and the worker keeps serving", async (t) => {
  await withWorker(
    t,
    "python3",
    "allocates",
    async (worker) => {
      const answer = await invoke(worker, { bytes: 64 * 2 ** 30 });
      t.is(answer.error?.type, "FunctionError");
      t.is(answer.error?.message, "MemoryError: out of memory (limit 128Mi)");
      t.is((await invoke(worker, { bytes: 1024 })).output, 1024);
    },
    { DISPATCH_MEMORY_LIMIT: String(128 * 2 ** 20) },
  );
});
