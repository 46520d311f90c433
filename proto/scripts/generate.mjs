// Regenerates every file under proto/src/gen. CI runs this and fails when the
// committed code differs, so generated code never drifts from the protos.
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const binDir = resolve(root, "node_modules/.bin");

function run(cmd, args) {
  execFileSync(resolve(binDir, cmd), args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PATH: `${binDir}:${process.env.PATH}` },
  });
}

rmSync(resolve(root, "proto/src/gen"), { recursive: true, force: true });

// The Dispatch API (dispatch.v1).
run("buf", ["lint"]);
run("buf", ["generate", "--template", "proto/buf.gen.yaml", "proto"]);

// Envoy's v3 xDS API, from the protos shipped inside @grpc/grpc-js-xds.
await import("./generate-envoy.mjs");
