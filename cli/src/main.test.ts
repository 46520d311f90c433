import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import test from "ava";
import type { Command } from "commander";
import { createApp } from "./app.js";
import { createProgram, run } from "./main.js";
import { recordingIo } from "./testing.js";

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

async function isolatedEnv(): Promise<NodeJS.ProcessEnv> {
  const dir = await mkdtemp(join(tmpdir(), "dispatch-main-"));
  // Nothing listens on port 9: calls that slip through fail fast.
  return { DISPATCH_CONFIG: join(dir, "config.json"), DISPATCH_SERVER: "http://127.0.0.1:9" };
}

test("help: every command and subcommand has a description and an example", (t) => {
  const io = recordingIo();
  const program = createProgram(createApp({ io }));
  for (const command of allCommands(program)) {
    t.not(command.description(), "", `${command.name()} has a description`);
    io.out = "";
    command.outputHelp();
    t.regex(io.out, /\nExamples:\n {2}\S/, `${command.name()} --help shows examples`);
  }
});

test("exit status 2: unknown command, unknown flag, bad flag value, unknown kind", async (t) => {
  const env = await isolatedEnv();
  for (const argv of [
    ["frobnicate"],
    ["get", "secrets", "--bogus"],
    ["-o", "xml", "get", "secrets"],
    ["get", "widgets"],
    ["apply", "-f", "/nonexistent/seed.yaml"],
    ["apply", "--wait", "--timeout", "soon", "-f", "x.yaml"],
    ["completion", "fish"],
    [],
  ]) {
    const io = recordingIo(env);
    t.is(await run(argv, io), 2, argv.join(" "));
    t.regex(io.err, /error|Usage/, argv.join(" "));
  }
});

test("function commands: mistakes exit 2 before anything is sent", async (t) => {
  const env = await isolatedEnv();
  const dir = await mkdtemp(join(tmpdir(), "dispatch-fn-"));
  const txt = join(dir, "file.txt");
  const js = join(dir, "hello.js");
  await writeFile(txt, "hello");
  await writeFile(js, "export default () => 1;\n");
  await writeFile(join(dir, "bad.json"), "{not json");
  const cases: [string[], RegExp][] = [
    [
      ["create", "function", "x", txt],
      /cannot tell the runtime of .*file\.txt: "\.txt" is not a known extension/,
    ],
    [
      ["create", "function", "x", dir, "--runtime", "nodejs"],
      /is a directory: name the handler with --handler/,
    ],
    [["create", "function", "x", js, "--runtime", "node"], /Allowed choices are nodejs, python3/],
    [["create", "function", "Bad_Name", js], /name "Bad_Name" is not valid/],
    [["create", "function", "x", join(dir, "gone.js")], /gone\.js does not exist/],
    [["create", "function", "x", js, "--schema-in", join(dir, "bad.json")], /bad\.json is not valid JSON/],
    [["create", "function", "x", js, "--timeout", "soon"], /use a duration such as/],
    [["create", "function", "x", js, "--min-scale", "-1"], /use a whole number/],
    [["update", "function", "x"], /nothing to change/],
    [["exec", "x", "--input", "{nope"], /--input is not valid JSON/],
    [["exec", "x", "--input", "1", "--input-file", txt], /give --input or --input-file, not both/],
    [["exec", "x", "--async", "--wait"], /give --async or --wait, not both/],
    [["get", "secrets", "--last"], /--last applies to runs, not secrets/],
    [["get", "runs", "hello", "0b7c", "--follow"], /leave out RUN_ID/],
    [["logs", "x", "--tail", "0"], /use a whole number, 1 or more/],
  ];
  for (const [argv, message] of cases) {
    const io = recordingIo(env);
    t.is(await run(argv, io), 2, argv.join(" "));
    t.regex(io.err, message, argv.join(" "));
    t.notRegex(io.err, /cannot reach/, "nothing was sent");
  }
});

test("asking for help or the version exits 0", async (t) => {
  const env = await isolatedEnv();
  for (const argv of [
    ["--help"],
    ["help", "get"],
    ["get", "--help"],
    ["create", "secret", "--help"],
    ["create", "function", "--help"],
    ["exec", "--help"],
    ["--version"],
  ]) {
    t.is(await run(argv, recordingIo(env)), 0, argv.join(" "));
  }
});

test("an unknown kind lists the known kinds", async (t) => {
  const io = recordingIo(await isolatedEnv());
  t.is(await run(["get", "widgets"], io), 2);
  t.is(
    io.err,
    'error: unknown kind "widgets" (known kinds: functions (fn, fns), endpoints (api, apis), subscriptions (sub, subs), ' +
      "secrets, organizations (org, orgs), tokens, runs)\n",
  );
});

test("a malformed manifest changes nothing: it fails before any connection is made", async (t) => {
  const io = recordingIo(await isolatedEnv(), "kind: Secret\nname: a\n---\nkind: Widget\n");
  t.is(await run(["apply", "-f", "-"], io), 2);
  t.regex(io.err, /^error: <stdin>: document 2, line 4: unknown kind "Widget"/);
  t.notRegex(io.err, /cannot reach/);
});

test("a server that is not running is reported with how to start one", async (t) => {
  const io = recordingIo(await isolatedEnv());
  t.is(await run(["get", "secrets"], io), 1);
  t.regex(
    io.err,
    /^error: cannot reach Dispatch at http:\/\/127\.0\.0\.1:9: is it running\? Start it with "dispatch up"/,
  );
});

test("version prints the client version even when the server is down", async (t) => {
  const io = recordingIo(await isolatedEnv());
  t.is(await run(["version"], io), 1);
  t.regex(io.out, /^Client: \d+\.\d+\.\d+/);
  t.regex(io.err, /cannot reach Dispatch/);
});

test("context set, use, list and delete manage the config file without printing tokens", async (t) => {
  const env = await isolatedEnv();
  const io = recordingIo(env);
  t.is(await run(["context", "set", "local", "--server", "http://127.0.0.1:8080", "--token", "t0k"], io), 0);
  t.is(
    await run(
      ["context", "set", "prod", "--server", "https://p.example", "--token", "p0k", "--org", "shop"],
      io,
    ),
    0,
  );
  t.is(await run(["context", "use", "prod"], io), 0);
  io.out = "";
  t.is(await run(["context"], io), 0);
  t.is(
    io.out,
    "CURRENT   NAME    SERVER                  ORG\n" +
      "          local   http://127.0.0.1:8080   -\n" +
      "*         prod    https://p.example       shop\n",
  );
  t.false(io.out.includes("t0k"));
  t.is(await run(["context", "delete", "prod"], io), 0);
  t.is(await run(["context", "use", "prod"], io), 1);
  t.is(await run(["context", "set", "new"], io), 2, "a new context needs --server");
});
