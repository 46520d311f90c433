import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import { run } from "../main.js";
import { recordingIo } from "../testing.js";

// The subscription and event commands, as the user types them. Nothing listens
// on port 9, so a call that slips through fails with "cannot reach".

async function isolatedEnv(): Promise<{ env: NodeJS.ProcessEnv; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-events-"));
  return { env: { DISPATCH_CONFIG: join(dir, "config.json"), DISPATCH_SERVER: "http://127.0.0.1:9" }, dir };
}

test("subscription and event commands: mistakes exit 2 before anything is sent", async (t) => {
  const { env, dir } = await isolatedEnv();
  const badFilters = join(dir, "filters.yaml");
  await writeFile(badFilters, "- exact: {Type: x}\n");
  const cases: [string[], RegExp][] = [
    [["create", "subscription", "orders"], /missing required argument 'function'/],
    [["create", "sub", "Orders", "f"], /name "Orders" is not valid/],
    [
      ["create", "sub", "o", "f", "--event-type", "a", "--type-prefix", "b"],
      /--event-type or --type-prefix, not both/,
    ],
    [
      ["create", "sub", "o", "f", "--ordered", "--concurrency", "4"],
      /--ordered delivers one event at a time/,
    ],
    [["create", "sub", "o", "f", "--from", "yesterday"], /use now \(events stored from now on\), all/],
    [["create", "sub", "o", "f", "--backoff", "fibonacci"], /Allowed choices are linear, exponential/],
    [["create", "sub", "o", "f", "--backoff-delay", "soon"], /use a duration such as/],
    [["create", "sub", "o", "f", "--max-retries", "-1"], /use a whole number/],
    [["create", "sub", "o", "f", "--event-type", ""], /give an event type/],
    [
      ["create", "sub", "o", "f", "--filter-file", badFilters],
      /filters\[0\]\.exact\.Type is not a CloudEvents attribute name/,
    ],
    [["create", "sub", "o", "f", "--filter-file", join(dir, "gone.yaml")], /gone\.yaml does not exist/],
    [["create", "subscription"], /missing required argument 'name'/],
    [["create", "subscriptions", "o"], /use "dispatch create subscription NAME FUNCTION/],
    [["update", "subscription", "o"], /nothing to change: give a FUNCTION and\/or flags/],
    [["update", "sub", "o", "--from", "all"], /--from says where a new subscription starts reading/],
    [["update", "sub", "o", "--all-events", "--source", "/shop"], /--all-events removes every filter/],
    [["update", "subscriptions", "o"], /use "dispatch update subscription NAME \[FUNCTION\] \[flags\]"/],
    [["emit"], /missing required argument 'type'/],
    [["emit", "t", "--data", "{nope"], /--data is not valid JSON/],
    [["emit", "t", "--data", "{}", "--data-file", badFilters], /give --data or --data-file, not both/],
    [["emit", "t", "--data-file", join(dir, "gone.bin")], /gone\.bin does not exist/],
    [["emit", "t", "--extension", "Bad=1"], /is not NAME=VALUE/],
    [["emit", "t", "--time", "now"], /use an RFC 3339 time/],
    [
      ["redeliver", "orders"],
      /name the events to send again .*dispatch get deadletters orders.*or give --all/,
    ],
    [["redeliver", "orders", "id-1", "--all"], /give event IDs or --all, not both/],
    [["get", "events", "--limit", "0"], /--limit 0 lists nothing: it goes with --follow/],
    [["get", "events", "--limit", "5000"], /use a whole number from 1 to 1000/],
    [["get", "events", "--last"], /--last applies to runs, not events/],
    [["get", "deadletters", "orders", "--follow"], /--follow applies to runs and events, not dead letters/],
    [["get", "dl"], /missing required argument 'subscription'/],
  ];
  for (const [argv, message] of cases) {
    const io = recordingIo(env);
    t.is(await run(argv, io), 2, argv.join(" "));
    t.regex(io.err, message, argv.join(" "));
    t.notRegex(io.err, /cannot reach/, `${argv.join(" ")}: nothing was sent`);
  }
});

test("the event commands name the broker they cannot reach, from --events-url or DISPATCH_EVENTS_URL", async (t) => {
  const { env } = await isolatedEnv();
  const flag = recordingIo(env);
  t.is(await run(["emit", "com.example.ping", "--events-url", "http://127.0.0.1:9"], flag), 1);
  t.regex(
    flag.err,
    /^error: cannot reach the event broker at http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\): is it running\?/,
  );

  for (const argv of [
    ["get", "events"],
    ["get", "dl", "orders"],
    ["redeliver", "orders", "--all"],
    ["get", "events", "-f"],
  ]) {
    const io = recordingIo({ ...env, DISPATCH_EVENTS_URL: "http://127.0.0.1:9" });
    t.is(await run(argv, io), 1, argv.join(" "));
    t.regex(io.err, /cannot reach the event broker at http:\/\/127\.0\.0\.1:9/, argv.join(" "));
  }
});

test("without an events URL the broker's URL is asked of the control plane", async (t) => {
  const { env } = await isolatedEnv();
  const io = recordingIo(env);
  t.is(await run(["emit", "com.example.ping"], io), 1);
  t.regex(io.err, /^error: cannot reach Dispatch at http:\/\/127\.0\.0\.1:9/);
});

test("help for every new command exits 0 and shows examples", async (t) => {
  const { env } = await isolatedEnv();
  for (const argv of [
    ["create", "subscription", "--help"],
    ["update", "sub", "--help"],
    ["emit", "--help"],
    ["redeliver", "--help"],
    ["get", "events", "--help"],
    ["get", "deadletters", "--help"],
  ]) {
    const io = recordingIo(env);
    t.is(await run(argv, io), 0, argv.join(" "));
    t.regex(io.out, /\nExamples:\n {2}dispatch /, argv.join(" "));
  }
});
