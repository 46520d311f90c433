import { create } from "@bufbuild/protobuf";
import { HttpConnectionManagerSchema } from "@dispatch/proto/envoy";
import test from "ava";
import { ConfigError } from "../../src/route-table/config-error.js";
import { envoyEnum } from "../../src/route-table/envoy-enum.js";
import {
  compileLocalReplyConfig,
  defaultReplyRenderer,
  type LocalReply,
  type ReplyContext,
} from "../../src/route-table/local-reply.js";
import { request } from "../support/envoy.js";

const context: ReplyContext = {
  request: request("POST", "http://h/missing"),
  routeName: undefined,
  upstreamHost: undefined,
  protocol: "HTTP/1.1",
  startTime: new Date(0),
  remoteAddress: "127.0.0.1",
  remotePort: 5000,
};
const reply = (status: number, body: string, flags: string[] = []): LocalReply => ({
  status,
  body,
  flags,
  details: "x",
  headers: [],
});
const ge = envoyEnum("envoy.config.accesslog.v3.ComparisonFilter.Op", "GE");

test("local replies: without local_reply_config, errors are Dispatch's JSON errors", (t) => {
  const notFound = defaultReplyRenderer.render(reply(404, "no route matches this request", ["NR"]), context);
  t.is(notFound.contentType, "application/json");
  t.deepEqual(JSON.parse(notFound.body), {
    error: { type: "InputError", message: "no route matches this request" },
  });
  const unavailable = defaultReplyRenderer.render(reply(503, "no healthy upstream", ["UH"]), context);
  t.deepEqual(JSON.parse(unavailable.body), {
    error: { type: "SystemError", message: "no healthy upstream" },
  });
  t.is(defaultReplyRenderer.render(reply(301, ""), context).body, "");
});

function config() {
  return create(HttpConnectionManagerSchema, {
    localReplyConfig: {
      mappers: [
        {
          filter: { filterSpecifier: { case: "responseFlagFilter", value: { flags: ["NR"] } } },
          bodyFormatOverride: {
            format: {
              case: "jsonFormat",
              value: {
                error: { type: "InputError", message: "no endpoint serves %REQ(:METHOD)% %REQ(:PATH)%" },
                code: "%RESPONSE_CODE%",
              },
            },
          },
        },
        {
          filter: {
            filterSpecifier: {
              case: "statusCodeFilter",
              value: { comparison: { op: ge, value: { defaultValue: 500, runtimeKey: "k" } } },
            },
          },
          statusCode: 502,
          headersToAdd: [{ header: { key: "x-mapped", value: "yes" } }],
          bodyFormatOverride: { format: { case: "textFormat", value: "failed: %LOCAL_REPLY_BODY%" } },
        },
      ],
    },
  }).localReplyConfig;
}

test("local replies: the first matching mapper shapes status, headers and body", (t) => {
  const renderer = compileLocalReplyConfig(config(), 100);
  const notFound = renderer.render(reply(404, "", ["NR"]), context);
  t.is(notFound.status, 404);
  t.is(notFound.contentType, "application/json");
  t.deepEqual(JSON.parse(notFound.body), {
    error: { type: "InputError", message: "no endpoint serves POST /missing" },
    code: 404,
  });
  const failed = renderer.render(reply(503, "no healthy upstream", ["UH"]), context);
  t.is(failed.status, 502);
  t.is(failed.body, "failed: no healthy upstream");
  t.deepEqual(failed.headers, [["x-mapped", "yes"]]);
  const other = renderer.render(reply(401, "Jwt is missing"), context);
  t.is(other.body, "Jwt is missing", "no mapper and no body_format: the body as text");
});

test("local replies: an operator the gateway does not know is refused", (t) => {
  const bad = create(HttpConnectionManagerSchema, {
    localReplyConfig: { bodyFormat: { format: { case: "textFormat", value: "%DYNAMIC_METADATA(x)%" } } },
  }).localReplyConfig;
  const error = t.throws(() => compileLocalReplyConfig(bad, 100), { instanceOf: ConfigError });
  t.regex(error.message, /%DYNAMIC_METADATA% is not a command operator the gateway supports/);
});
