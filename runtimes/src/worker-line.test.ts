import test from "ava";
import { parseWorkerLine } from "./worker-line.js";

test("parseWorkerLine: the ready line gives the port", (t) => {
  t.deepEqual(parseWorkerLine('DISPATCH_READY {"port": 8080}'), { kind: "ready", port: 8080 });
  t.deepEqual(parseWorkerLine('DISPATCH_READY {"port":41001}\r'), { kind: "ready", port: 41001 });
});

test("parseWorkerLine: a ready line without a usable port is not one", (t) => {
  t.is(parseWorkerLine("DISPATCH_READY {}"), undefined);
  t.is(parseWorkerLine('DISPATCH_READY {"port": 0}'), undefined);
  t.is(parseWorkerLine('DISPATCH_READY {"port": "8080"}'), undefined);
  t.is(parseWorkerLine("DISPATCH_READY nope"), undefined);
});

test("parseWorkerLine: the load-error line gives message and stack", (t) => {
  const line = `DISPATCH_LOAD_ERROR ${JSON.stringify({ message: "SyntaxError: Unexpected token ';' (hello.js:3)", stack: ["a", "b"] })}`;
  t.deepEqual(parseWorkerLine(line), {
    kind: "load-error",
    message: "SyntaxError: Unexpected token ';' (hello.js:3)",
    stack: ["a", "b"],
  });
});

test("parseWorkerLine: a load-error line whose JSON is broken still reports its text", (t) => {
  t.deepEqual(parseWorkerLine("DISPATCH_LOAD_ERROR it broke"), {
    kind: "load-error",
    message: "it broke",
    stack: [],
  });
  t.deepEqual(parseWorkerLine('DISPATCH_LOAD_ERROR {"message": "m", "stack": "not a list"}'), {
    kind: "load-error",
    message: "m",
    stack: [],
  });
});

test("parseWorkerLine: the function's own output is not a worker line", (t) => {
  t.is(parseWorkerLine("hello"), undefined);
  t.is(parseWorkerLine(""), undefined);
  t.is(parseWorkerLine("DISPATCH_READYish"), undefined);
  t.is(parseWorkerLine('log: DISPATCH_READY {"port": 1}'), undefined);
});
