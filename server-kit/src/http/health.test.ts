import test from "ava";
import { createHealthAnswers } from "./health.js";

function call(answer: ReturnType<typeof createHealthAnswers>, url: string) {
  const result = { handled: false, status: 0, body: "" };
  const res = {
    writeHead(status: number) {
      result.status = status;
      return res;
    },
    end(body: string) {
      result.body = body;
    },
  };
  result.handled = answer({ url }, res);
  return result;
}

test("health: /healthz is always 200; /readyz is 503 with each failed check's problem, 200 once all pass; other paths are left alone", (t) => {
  let problem: string | undefined = "disconnected since 2026-01-01T00:00:00.000Z";
  const answer = createHealthAnswers([
    { name: "nats", problem: () => problem },
    { name: "store", problem: () => undefined },
  ]);
  t.like(call(answer, "/healthz"), { handled: true, status: 200, body: '{"status":"ok"}' });
  const notReady = call(answer, "/readyz");
  t.is(notReady.status, 503);
  t.deepEqual(JSON.parse(notReady.body), { status: "not ready", nats: problem });
  problem = undefined;
  t.like(call(answer, "/readyz?verbose"), { handled: true, status: 200, body: '{"status":"ok"}' });
  t.like(call(answer, "/metrics"), { handled: false, status: 0 });
});
