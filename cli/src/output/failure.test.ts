import { Code, ConnectError } from "@connectrpc/connect";
import test from "ava";
import { UsageError } from "../errors.js";
import { describeFailure, formatFailure } from "./failure.js";

const context = { server: "http://127.0.0.1:8080", hasToken: true };

test("failure: a refused connection says how to start Dispatch", (t) => {
  const cause = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8080"), { code: "ECONNREFUSED" });
  const err = new ConnectError("connect ECONNREFUSED", Code.Unavailable, undefined, undefined, cause);
  const failure = describeFailure(err, context);
  t.is(failure.exitCode, 1);
  t.is(
    failure.message,
    'cannot reach Dispatch at http://127.0.0.1:8080: is it running? Start it with "dispatch up"',
  );
});

test("failure: server messages print without the [code] prefix; violations one per line", (t) => {
  const err = new ConnectError(
    'secret "Bad" is invalid:\n- meta.name: is not valid\n- spec.data: is empty',
    Code.InvalidArgument,
  );
  t.is(
    formatFailure(describeFailure(err, context)),
    'error: secret "Bad" is invalid:\n  - meta.name: is not valid\n  - spec.data: is empty\n',
  );
});

test("failure: Unauthenticated without a configured token adds how to set one", (t) => {
  const err = new ConnectError("this call needs a token", Code.Unauthenticated);
  t.deepEqual(describeFailure(err, context).lines, []);
  t.regex(
    describeFailure(err, { ...context, hasToken: false }).lines[0] ?? "",
    /--token, set DISPATCH_TOKEN/,
  );
});

test("failure: usage errors exit 2, everything else 1", (t) => {
  t.is(describeFailure(new UsageError("bad"), context).exitCode, 2);
  t.is(describeFailure(new ConnectError("gone", Code.NotFound), context).exitCode, 1);
  t.is(describeFailure(new Error("boom"), context).exitCode, 1);
});
