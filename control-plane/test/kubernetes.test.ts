import { Phase } from "@dispatch/proto";
import { startKubeDispatch, type TestKubeDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { deploy, exec, functionClients, helloJs, outputOf } from "./functions-helpers.js";

/**
 * Functions on Kubernetes: a control plane with the Kubernetes driver against
 * the fake API server, whose kubelet runs the real worker as each pod (the
 * bundle fetched from the control plane with the pod's credential).
 */
const test = anyTest as TestFn<{ dispatch: TestKubeDispatch }>;

test.before(async (t) => {
  t.context.dispatch = await startKubeDispatch();
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

const deploymentsOf = (dispatch: TestKubeDispatch, fn: string) =>
  dispatch.kube
    .list("deployments", "dispatch")
    .filter(
      (d) => (d.metadata as { labels?: Record<string, string> }).labels?.["dispatch.dev/function"] === fn,
    );

test("a function runs as a pod of its revision's Deployment, and exec reaches its handler", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  const fn = await deploy(api, "hello", "hello.js", helloJs);
  t.is(fn.status?.phase, Phase.READY, fn.status?.reason.join("; "));
  const run = await exec(api, "hello", { name: "Kube", place: "a pod" });
  t.deepEqual(outputOf(run), { myField: "Hello, Kube from a pod" });

  const deployments = deploymentsOf(dispatch, "hello");
  t.is(deployments.length, 1);
  const pods = dispatch.kube
    .list("pods", "dispatch")
    .filter(
      (p) =>
        (p.metadata as { labels?: Record<string, string> }).labels?.["dispatch.dev/function"] === "hello",
    );
  t.true(pods.length >= 1);
});
