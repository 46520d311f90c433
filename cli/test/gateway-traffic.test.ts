import { writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import test from "ava";
import { type IngressHarness, startIngressHarness } from "./ingress-harness.js";

// Zero failed requests while routes change: steady traffic to one READY
// endpoint through the gateway of `dispatch up` (gateway → activator →
// worker), while the CLI (a separate process) creates, updates and deletes
// other endpoints and rolls out a new revision of the function behind the
// steady one. Bounded by counts (changes, requests), never by time.

let h: IngressHarness;

test.before(async () => {
  h = await startIngressHarness("gateway-traffic");
});

test.after.always(async () => {
  await h?.stop();
});

const ok = (...args: string[]) => h.ok(...args);

async function writeCode(name: string, code: string): Promise<string> {
  const file = join(h.dir, `${name}.js`);
  await writeFile(file, code);
  return file;
}

/** One call's outcome: the status and body, or the network error. */
type Outcome = { status: number; text: string } | { error: string };

/** A call over the shared keep-alive pool of `fetch`. */
async function viaFetch(url: string): Promise<Outcome> {
  try {
    const res = await fetch(url);
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { error: describe(err) };
  }
}

/** A call on a connection of its own (`Connection: close`), so every call is a new accept at the gateway. */
function viaNewConnection(url: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.once("error", (err) => resolve({ error: describe(err) }));
      res.once("end", () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.once("error", (err) => resolve({ error: describe(err) }));
    req.end();
  });
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : "";
  return `${err.message}${cause}`;
}

// A short wait in the handler keeps calls in flight across every switch.
const answering = (answer: string) =>
  `export default async () => { await new Promise((r) => setTimeout(r, 20)); return { answer: "${answer}" }; };\n`;

test("no call fails while other endpoints change and the function behind the called one rolls out", async (t) => {
  t.timeout(8 * 60_000, "bounded by counts; this is only a backstop for a hang");
  await ok("create", "function", "steady", await writeCode("steady-v1", answering("v1")), "--wait");
  await ok("create", "function", "side", await writeCode("side", answering("side")), "--wait");
  await ok("create", "endpoint", "steady", "steady", "--path", "/steady", "--wait");
  const url = `${h.gateway}/steady`;

  // Steady traffic: two loops on keep-alive connections, two opening a
  // connection per call. Every non-2xx and every network error counts.
  const failures: { loop: string; call: number; outcome: Outcome }[] = [];
  const answers = new Map<string, number>();
  /** Answers of calls started after `update function --wait` returned. */
  const answersAfterRollout = new Map<string, number>();
  let rolledOut = false;
  let settled = false;
  const warmCalls = 5;
  const tailCalls = 25;
  let warmed = 0;
  let markWarm: () => void = () => {};
  const warm = new Promise<void>((resolve) => {
    markWarm = resolve;
  });
  const loop = async (name: string, callOnce: (url: string) => Promise<Outcome>) => {
    let calls = 0;
    let afterSettled = 0;
    while (afterSettled < tailCalls) {
      if (settled) afterSettled++;
      const afterRollout = rolledOut;
      const outcome = await callOnce(url);
      calls++;
      if (calls === warmCalls && ++warmed === 4) markWarm();
      if (!("status" in outcome) || outcome.status < 200 || outcome.status > 299) {
        failures.push({ loop: name, call: calls, outcome });
        continue;
      }
      let answer: string;
      try {
        answer = String((JSON.parse(outcome.text) as { answer: unknown }).answer);
      } catch {
        answer = `unparsable: ${outcome.text.slice(0, 200)}`;
      }
      answers.set(answer, (answers.get(answer) ?? 0) + 1);
      if (afterRollout) answersAfterRollout.set(answer, (answersAfterRollout.get(answer) ?? 0) + 1);
    }
    return calls;
  };
  const loops = Promise.all([
    loop("keep-alive-1", viaFetch),
    loop("keep-alive-2", viaFetch),
    loop("new-connection-1", viaNewConnection),
    loop("new-connection-2", viaNewConnection),
  ]);
  await warm;

  // Route churn: 12 other endpoints, each created, then moved (new path,
  // methods, CORS, a rate limit) and, for every other one, deleted: 30
  // changes, three chains at a time. Some name the steady endpoint's function.
  const churned = Array.from({ length: 12 }, (_, i) => ({
    name: `churn-${i}`,
    fn: i % 4 < 2 ? "steady" : "side",
    deleted: i % 2 === 0,
  }));
  let changes = 0;
  let markChurning: () => void = () => {};
  const churning = new Promise<void>((resolve) => {
    markChurning = resolve;
  });
  const change = async (...args: string[]) => {
    await ok(...args);
    if (++changes === 10) markChurning();
  };
  const chain = async (lane: number) => {
    for (const e of churned.filter((_, i) => i % 3 === lane)) {
      await change("create", "endpoint", e.name, e.fn, "--path", `/${e.name}`);
      await change(
        "update",
        "endpoint",
        e.name,
        ...["--path", `/${e.name}/moved`, "--method", "GET", "--method", "POST", "--cors"],
        ...["--rate-limit", "1000/s", "--wait"],
      );
      if (e.deleted) await change("delete", "endpoint", e.name);
    }
  };
  // The rollout starts once the churn is under way and runs beside it.
  const rollout = async () => {
    await churning;
    await ok("update", "function", "steady", await writeCode("steady-v2", answering("v2")), "--wait");
    rolledOut = true;
  };
  try {
    await Promise.all([chain(0), chain(1), chain(2), rollout()]);
  } finally {
    settled = true;
  }
  const calls = await loops;

  const total = calls.reduce((a, b) => a + b, 0);
  t.log(`${total} calls (${calls.join(", ")} per loop) during ${changes} endpoint changes and a rollout`);
  t.log(`answers: ${JSON.stringify(Object.fromEntries(answers))}`);
  t.log(
    `answers of calls started after the rollout: ${JSON.stringify(Object.fromEntries(answersAfterRollout))}`,
  );
  t.is(changes, 30);
  t.deepEqual(failures.slice(0, 10), [], `${failures.length} of ${total} calls failed`);
  t.true((answers.get("v1") ?? 0) > 0, "the first revision answered");
  t.true((answers.get("v2") ?? 0) > 0, "the new revision answered");
  t.deepEqual(
    [...answers.keys()].filter((a) => a !== "v1" && a !== "v2"),
    [],
    "only the steady function's revisions answered",
  );
  t.is(answersAfterRollout.get("v1"), undefined, "once the rollout is READY no call gets the old revision");

  // The churn took effect: what is left answers at its new path, what was deleted is gone.
  for (const e of churned) {
    if (e.deleted) {
      // Deleting is routed away once the gateway applied it: look until it is.
      let gone = await viaFetch(`${h.gateway}/${e.name}/moved`);
      while (!("status" in gone) || gone.status !== 404) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        gone = await viaFetch(`${h.gateway}/${e.name}/moved`);
      }
      t.pass(`${e.name} is gone`);
    } else {
      const moved = await viaFetch(`${h.gateway}/${e.name}/moved`);
      t.is(
        "status" in moved ? moved.status : moved.error,
        200,
        `${e.name} answers at its new path: ${JSON.stringify(moved)}`,
      );
      if ("text" in moved) t.deepEqual(JSON.parse(moved.text), { answer: e.fn === "steady" ? "v2" : "side" });
      const old = await viaFetch(`${h.gateway}/${e.name}`);
      t.is("status" in old ? old.status : old.error, 404, `${e.name}'s old path is not served`);
    }
  }
});
