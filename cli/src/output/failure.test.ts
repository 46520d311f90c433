import { Code, ConnectError } from "@connectrpc/connect";
import { RequestTimeoutError } from "@dispatch/client";
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
  t.regex(
    describeFailure(err, { ...context, hasToken: false }).lines[0] ?? "",
    /--token, set DISPATCH_TOKEN/,
  );
});

test("failure: a refused token names where it came from and how to use another", (t) => {
  const err = new ConnectError("the token is not valid (unknown or revoked).", Code.Unauthenticated);
  const failure = describeFailure(err, {
    ...context,
    tokenSource: 'context "local" in /home/me/.dispatch/config.json',
  });
  t.is(failure.message, "the token is not valid (unknown or revoked).");
  t.is(failure.lines[0], 'the token came from context "local" in /home/me/.dispatch/config.json');
  t.regex(failure.lines.join("\n"), /--token, DISPATCH_TOKEN, or a context/);
});

test("failure: a request timeout says what to check and how to wait longer", (t) => {
  const err = new RequestTimeoutError("dispatch.v1.FunctionService.List", 1500, new Error("aborted"));
  const failure = describeFailure(err, context);
  t.is(failure.exitCode, 1);
  t.is(
    failure.message,
    "no answer from Dispatch at http://127.0.0.1:8080 within 1.5s (dispatch.v1.FunctionService.List)",
  );
  t.regex(failure.lines.join("\n"), /dispatch status/);
  t.regex(failure.lines.join("\n"), /--request-timeout \(env DISPATCH_REQUEST_TIMEOUT\)/);
});

test("failure: usage errors exit 2, everything else 1", (t) => {
  t.is(describeFailure(new UsageError("bad"), context).exitCode, 2);
  t.is(describeFailure(new ConnectError("gone", Code.NotFound), context).exitCode, 1);
  t.is(describeFailure(new Error("boom"), context).exitCode, 1);
});
