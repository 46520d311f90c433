import type { Runtime } from "../src/index.js";

/**
 * The same handlers in both languages, one module per runtime: each test
 * starts a worker on one of them (`handlerFor(runtime, "greet")`).
 */
export const fixtureFiles: Record<Runtime, Record<string, string>> = {
  nodejs: {
    "fixtures.mjs": `
import { existsSync, writeFileSync } from "node:fs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
class InputError extends Error {}

export const greet = async (context, payload) => ({ myField: \`Hello, \${payload.name} from \${payload.place}\` });
export const echo = (context, payload) => payload;
export const prints = (context, payload) => {
  console.log("to stdout");
  process.stderr.write("to stderr\\n");
  return null;
};
export const tagged = async (context, payload) => {
  console.log(\`start \${payload.id}\`);
  await sleep(payload.pause * 1000);
  process.stdout.write(\`end \${payload.id}\\n\`);
  console.error(\`err \${payload.id}\`);
  return payload.id;
};
export const contextFields = (context, payload) => ({
  secrets: context.secrets,
  function: context.function,
  runId: context.runId,
  deadline: context.deadline === null ? null : context.deadline.toISOString(),
  deadlineIsDate: context.deadline instanceof Date,
});
export const logs = (context, payload) => {
  context.logger.info("info", 1);
  context.logger.debug("debug");
  context.logger.warn("warn");
  context.logger.error("error");
  return null;
};
export const fails = () => {
  throw new Error("something broke");
};
export const failsTyped = (context, payload) => {
  throw new TypeError(\`no order in \${JSON.stringify(payload)}\`);
};
class NotFound extends Error {}
export const notFound = () => {
  throw new NotFound();
};
export const rejects = async () => {
  throw new InputError("name is required");
};
class MissingName extends InputError {}
export const rejectsNarrowly = async () => {
  throw new MissingName("name is required");
};
export const sleeps = async (context, payload) => {
  if (payload.marker) writeFileSync(payload.marker, "started");
  // Held until the test writes the file it names (so no clock decides when the call ends).
  if (payload.until) while (!existsSync(payload.until)) await sleep(20);
  else await sleep(payload.seconds * 1000);
  return "woke";
};
export const notJson = () => ({ big: 10n });
export const noisy = (context, payload) => {
  for (let i = 0; i < payload.lines; i++) console.log(\`line \${i} of many\`);
  return payload.lines;
};
export const http = (context, payload) => ({
  method: context.http.method,
  path: context.http.path,
  query: context.http.query,
  contentType: context.http.headers["content-type"] ?? null,
  payload,
});
export const httpResponse = () => ({
  statusCode: 201,
  headers: { "x-made-by": "handler", "content-type": "text/plain" },
  body: "created",
});
export const badHeader = () => ({ statusCode: 200, headers: { "x-price": "5 €" }, body: "five" });
export const noContent = () => ({ statusCode: 204, headers: {}, body: "ignored" });
export const badReplyType = () => ({
  type: "t",
  source: "/s",
  datacontenttype: "text/plain\\r\\nx-injected: yes",
  data: "x",
});
export const event = (context, payload) =>
  context.event.type === "ignore" ? null : { type: context.event.type, subject: context.event.subject ?? null, payload };
let calls = 0;
export const counts = (context, payload) => ({
  calls: ++calls,
  tokenInEnv: "DISPATCH_WORKER_TOKEN" in process.env,
  headers: context.http ? Object.keys(context.http.headers) : null,
});
export const replyEvent = (context, payload) => ({
  type: "com.example.replied",
  source: "/replier",
  subject: "Euro € 😀",
  data: { got: payload },
});
`,
  },
  python3: {
    "fixtures.py": `
import json
import os
import sys
import time


class InputError(Exception):
    pass


def greet(context, payload):
    return {"myField": f"Hello, {payload['name']} from {payload['place']}"}


def echo(context, payload):
    return payload


def prints(context, payload):
    print("to stdout")
    sys.stderr.write("to stderr\\n")


def tagged(context, payload):
    print(f"start {payload['id']}")
    time.sleep(payload["pause"])
    sys.stdout.write(f"end {payload['id']}\\n")
    print(f"err {payload['id']}", file=sys.stderr)
    return payload["id"]


def contextFields(context, payload):
    deadline = context.deadline
    return {
        "secrets": context.secrets,
        "function": context["function"],
        "runId": context.runId,
        "deadline": None if deadline is None else deadline.isoformat(),
        "deadlineIsDate": deadline is not None and deadline.tzinfo is not None,
    }


def logs(context, payload):
    context.logger.info("info %d", 1)
    context.logger.debug("debug")
    context.logger.warn("warn")
    context.logger.error("error")


def fails(context, payload):
    raise Exception("something broke")


def failsTyped(context, payload):
    raise TypeError(f"no order in {json.dumps(payload, separators=(',', ':'))}")


class NotFound(Exception):
    pass


def notFound(context, payload):
    raise NotFound()


def rejects(context, payload):
    raise InputError("name is required")


class MissingName(InputError):
    pass


def rejectsNarrowly(context, payload):
    raise MissingName("name is required")


def sleeps(context, payload):
    if payload.get("marker"):
        with open(payload["marker"], "w") as marker:
            marker.write("started")
    if payload.get("until"):
        while not os.path.exists(payload["until"]):
            time.sleep(0.02)
    else:
        time.sleep(payload["seconds"])
    return "woke"


def notJson(context, payload):
    return {"big": {1, 2}}


def noisy(context, payload):
    for i in range(payload["lines"]):
        print(f"line {i} of many")
    return payload["lines"]


def http(context, payload):
    return {
        "method": context.http["method"],
        "path": context.http["path"],
        "query": context.http["query"],
        "contentType": context.http["headers"].get("content-type"),
        "payload": payload,
    }


def httpResponse(context, payload):
    return {"statusCode": 201, "headers": {"x-made-by": "handler", "content-type": "text/plain"}, "body": "created"}


def badHeader(context, payload):
    return {"statusCode": 200, "headers": {"x-price": "5 €"}, "body": "five"}


def noContent(context, payload):
    return {"statusCode": 204, "headers": {}, "body": "ignored"}


def badReplyType(context, payload):
    return {"type": "t", "source": "/s", "datacontenttype": "text/plain\\r\\nx-injected: yes", "data": "x"}


def event(context, payload):
    if context.event["type"] == "ignore":
        return None
    return {"type": context.event["type"], "subject": context.event.get("subject"), "payload": payload}


_calls = 0


def counts(context, payload):
    global _calls
    _calls += 1
    import os

    return {
        "calls": _calls,
        "tokenInEnv": "DISPATCH_WORKER_TOKEN" in os.environ,
        "headers": None if context.http is None else list(context.http["headers"]),
    }


def allocates(context, payload):
    return len(bytearray(payload["bytes"]))


def replyEvent(context, payload):
    return {"type": "com.example.replied", "source": "/replier", "subject": "Euro € 😀", "data": {"got": payload}}
`,
  },
};

/** The `DISPATCH_HANDLER` of fixture `name`. */
export function handlerFor(runtime: Runtime, name: string): string {
  return runtime === "nodejs" ? `fixtures.mjs:${name}` : `fixtures.${name}`;
}
