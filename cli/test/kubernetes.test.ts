import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type RequestRecord, startKubeDispatch, type TestKubeDispatch } from "@dispatch/testkit";
import test from "ava";
import { controlPlaneRules } from "../src/install/control-plane-objects.js";

// The `dispatch` command against a control plane whose functions run as pods of the fake
// cluster (real workers as the pods), and the Role `dispatch install` gives that control plane.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));

function dispatch(
  running: TestKubeDispatch,
  dir: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: dir,
    DISPATCH_CONFIG: join(dir, "config.json"),
    DISPATCH_SERVER: running.url,
    DISPATCH_TOKEN: running.token,
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, cwd: dir, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** Whether the Role's rules allow a request (verb on resource[/subresource]). */
function allowed(request: RequestRecord): boolean {
  const resource = request.subresource ? `${request.resource}/${request.subresource}` : request.resource;
  // A server-side apply is a PATCH that may create: RBAC asks for patch (and create when it creates).
  const verb = request.verb === "apply" ? "patch" : request.verb;
  return controlPlaneRules.some(
    (rule) => (rule.resources ?? []).includes(resource) && (rule.verbs ?? []).includes(verb),
  );
}

test("dispatch create, exec and delete a function that runs as pods; the driver needs nothing beyond its Role", async (t) => {
  const running = await startKubeDispatch();
  t.teardown(() => running.stop());
  const dir = await mkdtemp(join(tmpdir(), "dispatch-kube-cli-"));
  await writeFile(
    join(dir, "hello.js"),
    "export default async (context, payload) => ({ hello: payload.name });\n",
  );

  const created = await dispatch(running, dir, ["create", "function", "hello", "hello.js", "--wait"]);
  t.is(created.code, 0, created.stderr);
  const run = await dispatch(running, dir, ["exec", "hello", "--input", '{"name":"pod"}', "-o", "json"]);
  t.is(run.code, 0, run.stderr);
  t.regex(run.stdout, /"hello": "pod"/);
  const pods = running.kube.list("pods", "dispatch").length;
  t.true(pods >= 1, "the function runs as a pod");

  const deleted = await dispatch(running, dir, ["delete", "function", "hello"]);
  t.is(deleted.code, 0, deleted.stderr);

  const requests = running.kube.requests.filter((r) => r.code < 400 || r.code === 404);
  t.true(requests.some((r) => r.resource === "deployments" && r.subresource === "scale"));
  const outside = requests.filter((r) => !allowed(r)).map((r) => `${r.verb} ${r.resource}/${r.subresource}`);
  t.deepEqual([...new Set(outside)], [], "every request of the control plane is allowed by its Role");
});
