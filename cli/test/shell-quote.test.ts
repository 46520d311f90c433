import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import test from "ava";

// cli/scripts/shell-quote.sh prints the steps of `npm run quickstart`; what it
// prints must work when copied into a shell.
const script = fileURLToPath(new URL("../../scripts/shell-quote.sh", import.meta.url));

function bash(program: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", ["-c", `set -euo pipefail; source "$0"; ${program}`, script, ...args], (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

test("quickstart: a step is printed with the quotes a user must type", async (t) => {
  t.is(
    await bash('quoted "$@"', ["exec", "hello", "--input", '{"name":"Jon","place":"Winterfell"}']),
    `exec hello --input '{"name":"Jon","place":"Winterfell"}'`,
  );
  t.is(
    await bash('quoted "$@"', ["get", "secret", "open-sesame", "--reveal", "-o", "yaml"]),
    "get secret open-sesame --reveal -o yaml",
    "plain words stay bare",
  );
});

test("quickstart: a printed step, read back by the shell, is the same arguments", async (t) => {
  const args = ["exec", "x", "--input", `{"text":"it's $HOME; a b"}`, "", "*"];
  const back = await bash('eval "set -- $(quoted "$@")"; printf "%s\\n" "$@"', args);
  t.deepEqual(back.split("\n").slice(0, -1), args);
});
