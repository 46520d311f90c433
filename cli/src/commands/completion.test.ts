import { execFileSync } from "node:child_process";
import test from "ava";
import { createApp } from "../app.js";
import { createProgram } from "../main.js";
import { recordingIo } from "../testing.js";
import { completionScript } from "./completion.js";

const program = createProgram(createApp({ io: recordingIo() }));

function hasShell(shell: string): boolean {
  try {
    execFileSync(shell, ["-c", "true"]);
    return true;
  } catch {
    return false;
  }
}

test("completion bash: offers every command, subcommand, flag and kind", (t) => {
  const script = completionScript(program, "bash");
  for (const word of [
    "get",
    "create",
    "update",
    "delete",
    "apply",
    "exec",
    "logs",
    "context",
    "status",
    "version",
    "whoami",
    "completion",
    "emit",
    "redeliver",
  ]) {
    t.regex(script, new RegExp(`words="[^"]*\\b${word}\\b`), word);
  }
  t.regex(
    script,
    /" create"\) words="function fn endpoint api subscription sub secret organization org token/,
  );
  t.regex(script, /" get"\) words="events event deadletters deadletter dl [^"]*\bsubscriptions\b/);
  t.regex(script, /" update"\) words="function fn [^"]*\bsecret secrets\b/);
  t.regex(script, /" context"\) words="use set delete"/);
  t.regex(script, /" get"\) words="[^"]*\bfunctions fn fns\b[^"]*\bapi apis\b/);
  t.regex(script, /flags="[^"]*--reveal/);
  t.regex(script, /flags="[^"]*--output/);
  t.regex(script, /complete -o default -F _dispatch dispatch/);
});

test("completion bash: the script is valid bash and completes words", (t) => {
  if (!hasShell("bash")) return t.pass("bash is not installed");
  const script = completionScript(program, "bash");
  const complete = (line: string) =>
    execFileSync(
      "bash",
      [
        "-c",
        `${script}\nCOMP_WORDS=(${line}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _dispatch; echo "\${COMPREPLY[*]}"`,
      ],
      {
        encoding: "utf8",
      },
    ).trim();
  t.is(complete("dispatch ge"), "get");
  t.is(complete("dispatch get sec"), "secret secrets");
  t.is(complete("dispatch create org"), "organization org");
  t.is(complete("dispatch get secrets --rev"), "--reveal");
  t.is(complete("dispatch -o j"), "json");
  t.is(complete("dispatch get secrets a"), "", "no kinds after the kind");
  t.is(complete("dispatch update fn hello --run"), "--runtime");
  t.is(complete("dispatch create function hello hello.js --runtime p"), "python3");
  t.is(complete("dispatch update sec"), "secret secrets", "update still offers kinds");
  t.is(complete("dispatch logs hello --ta"), "--tail");
  t.is(complete("dispatch create sub orders ship --event-t"), "--event-type");
  t.is(complete("dispatch update sub orders --backoff l"), "linear");
  t.is(complete("dispatch create sub orders ship --from a"), "all");
  t.is(complete("dispatch emit com.example.ping --data-f"), "--data-file");
  t.is(complete("dispatch get dead"), "deadletters deadletter");
  t.is(complete("dispatch get events --fo"), "--follow");
});

test("completion zsh: offers the commands with descriptions and is valid zsh", (t) => {
  const script = completionScript(program, "zsh");
  t.regex(script, /^#compdef dispatch\n/);
  t.regex(script, /'apply:Make the server match a manifest \(create or update\)'/);
  t.regex(script, /'--from-literal:/);
  if (hasShell("zsh")) execFileSync("zsh", ["-n", "-c", script]);
});
