import {
  kubernetesDriverFactory,
  objectsOfFunction,
  stablePort,
  startRuntimeCluster,
} from "@dispatch/testkit";
import test from "ava";
import { startIngressHarness } from "./ingress-harness.js";

// `dispatch up`'s data plane (xds-server and gateway) in front of functions that run as pods of
// the fake cluster (real workers as the pods): an Endpoint created with the CLI answers through
// the gateway, from zero pods too.
test("an Endpoint answers through the gateway from a function that runs as pods, waking it from zero", async (t) => {
  const kube = await startRuntimeCluster();
  t.teardown(() => kube.close());
  const port = await stablePort();
  const h = await startIngressHarness("kube-gateway", {
    port,
    driver: kubernetesDriverFactory(kube, { controlPlaneUrl: `http://127.0.0.1:${port}` }),
  });
  t.teardown(() => h.stop());

  await h.fn(
    "greet",
    'export default async (context) => ({ statusCode: 200, body: "hello from a pod at " + context.http.path });\n',
    "--min-scale",
    "0",
    "--idle-timeout",
    "300ms",
  );
  await h.ok("create", "endpoint", "greet", "greet", "--path", "/greet", "--auth", "public", "--wait");
  const first = await fetch(`${h.gateway}/greet`);
  t.is(first.status, 200);
  t.is(await first.text(), "hello from a pod at /greet");

  // Idle, it goes to zero pods; the next request through the gateway wakes it.
  const pods = () => objectsOfFunction(kube, "pods", "greet");
  await kube.until(() => pods().length === 0);
  const woken = await fetch(`${h.gateway}/greet`);
  t.is(woken.status, 200);
  t.is(await woken.text(), "hello from a pod at /greet");
  t.true(pods().length >= 1);
});
