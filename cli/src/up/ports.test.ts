import test from "ava";
import { startOnPickedPorts } from "./ports.js";

/** An error as a listen on a taken port gives it (`port` as `dispatch up`'s components add it). */
function taken(port: number): Error {
  return Object.assign(new Error(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`), {
    code: "EADDRINUSE",
    port,
  });
}

test("startOnPickedPorts: a port taken between the pick and the listen is picked again, and said so", async (t) => {
  const lines: string[] = [];
  const attempts: number[] = [];
  const started = await startOnPickedPorts({
    attempts: 3,
    start: async (attempt) => {
      attempts.push(attempt);
      if (attempt < 3) throw taken(8080 + attempt);
      return "started";
    },
    mayPickAgain: () => true,
    retryLine: (port) => `port ${port} was taken meanwhile`,
    log: (line) => lines.push(line),
  });
  t.is(started, "started");
  t.deepEqual(attempts, [1, 2, 3]);
  t.deepEqual(lines, ["port 8081 was taken meanwhile", "port 8082 was taken meanwhile"]);
});

test("startOnPickedPorts: a port the user named, the last attempt, and any other failure are thrown as they are", async (t) => {
  const how = (fail: (attempt: number) => Error, mayPickAgain: (port: number | undefined) => boolean) => {
    const lines: string[] = [];
    let attempts = 0;
    const run = startOnPickedPorts({
      attempts: 2,
      start: async (attempt) => {
        attempts = attempt;
        throw fail(attempt);
      },
      mayPickAgain,
      retryLine: () => "again",
      log: (line) => lines.push(line),
    });
    return { run, lines: () => lines, attempts: () => attempts };
  };

  const named = how(
    () => taken(8080),
    (port) => port !== 8080,
  );
  t.is((await t.throwsAsync(named.run))?.message, "listen EADDRINUSE: address already in use 127.0.0.1:8080");
  t.is(named.attempts(), 1);
  t.deepEqual(named.lines(), []);

  const last = how(
    (attempt) => taken(9000 + attempt),
    () => true,
  );
  t.regex((await t.throwsAsync(last.run))?.message ?? "", /127\.0\.0\.1:9002$/);
  t.is(last.attempts(), 2);
  t.deepEqual(last.lines(), ["again"]);

  const other = how(
    () => new Error("the certificate does not parse"),
    () => true,
  );
  t.is((await t.throwsAsync(other.run))?.message, "the certificate does not parse");
  t.is(other.attempts(), 1);
});
