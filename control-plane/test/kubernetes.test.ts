import { Phase, SystemService } from "@dispatch/proto";
import {
  type FakeKube,
  objectsOfFunction,
  startKubeDispatch,
  type TestKubeDispatch,
} from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import {
  deploy,
  exec,
  functionClients,
  helloJs,
  outputOf,
  settled,
  until,
  uploadFile,
} from "./functions-helpers.js";
import { client } from "./helpers.js";

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

type Labelled = { metadata?: { labels?: Record<string, string>; uid?: string; name?: string } };
const ofFunction = (kube: FakeKube, resource: string, fn: string) =>
  objectsOfFunction(kube, resource, fn) as Labelled[];

test("a function runs as a pod of its revision's Deployment, with its Service and Secret owned by it", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  const fn = await deploy(api, "hello", "hello.js", helloJs, { env: { GREETING: "hi" } });
  t.is(fn.status?.phase, Phase.READY, fn.status?.reason.join("; "));
  const run = await exec(api, "hello", { name: "Kube", place: "a pod" });
  t.deepEqual(outputOf(run), { myField: "Hello, Kube from a pod" });

  const [deployment] = ofFunction(dispatch.kube, "deployments", "hello");
  t.truthy(deployment);
  const uid = deployment?.metadata?.uid;
  for (const resource of ["services", "secrets"]) {
    const [owned] = ofFunction(dispatch.kube, resource, "hello") as (Labelled & {
      metadata: { ownerReferences?: { uid: string; kind: string }[] };
    })[];
    t.is(owned?.metadata.ownerReferences?.[0]?.uid, uid, `the ${resource} is owned by the Deployment`);
  }
  // The credential and the environment are in the Secret, not in the pod spec.
  const spec = JSON.stringify((deployment as { spec?: unknown }).spec);
  t.false(spec.includes('hi"'), "no environment value in the Deployment");
  t.regex(spec, /secretKeyRef/);
  t.true(ofFunction(dispatch.kube, "pods", "hello").length >= 1);
});

test("an update rolls to a new revision with no failed call, and the old Deployment goes", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  await deploy(api, "roll", "roll.js", "export default async () => 'one';\n");
  const [first] = ofFunction(dispatch.kube, "deployments", "roll");
  const outputs: unknown[] = [];
  const failures: string[] = [];
  // Calls, one after another, from before the update until the new revision answered three of them.
  const calls = (async () => {
    let answeredByNew = 0;
    while (answeredByNew < 3) {
      const run = await exec(api, "roll");
      if (run.status?.phase !== Phase.READY) failures.push(run.status?.error?.message ?? "no output");
      const output = outputOf(run);
      outputs.push(output);
      if (output === "two") answeredByNew++;
      if (failures.length > 0) return;
    }
  })();
  const current = (await api.functions.get({ name: "roll" })).function;
  const source = await uploadFile(api, "roll.js", "export default async () => 'two';\n");
  await api.functions.update({
    function: { ...current, spec: { ...current?.spec, source } } as never,
  });
  const fn = await settled(api, "roll");
  t.is(fn.status?.phase, Phase.READY);
  await calls;
  t.deepEqual(failures, []);
  t.true(outputs.includes("one") && outputs.includes("two"));
  // Until the first revision's Deployment is deleted.
  await dispatch.kube.until(
    () =>
      !ofFunction(dispatch.kube, "deployments", "roll").some((d) => d.metadata?.uid === first?.metadata?.uid),
  );
  t.is(ofFunction(dispatch.kube, "deployments", "roll").length, 1);
});

test("idle, a function scales to zero pods; a call through the activator wakes it", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  await deploy(
    api,
    "sleepy",
    "sleepy.js",
    "export default async () => ({ statusCode: 200, body: 'awake' });\n",
    {
      scale: { min: 0, idleTimeout: { seconds: 0n, nanos: 300_000_000 } },
    },
  );
  const replicas = () =>
    (ofFunction(dispatch.kube, "deployments", "sleepy")[0] as { spec?: { replicas?: number } } | undefined)
      ?.spec?.replicas;
  // Until no pod of sleepy.
  await dispatch.kube.until(
    () => replicas() === 0 && ofFunction(dispatch.kube, "pods", "sleepy").length === 0,
  );
  const activator = (await client(SystemService, dispatch.url, dispatch.token).getStatus({})).urls.activator;
  const res = await fetch(`${activator}/default/sleepy/`, { headers: { "dispatch-token": dispatch.token } });
  t.is(res.status, 200);
  t.is(await res.text(), "awake");
  t.is(replicas(), 1);
});

test("deleting a function deletes its Deployment, Service, Secret and pods", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  await deploy(api, "doomed", "doomed.js", "export default async () => 1;\n");
  t.true(ofFunction(dispatch.kube, "pods", "doomed").length >= 1);
  await api.functions.delete({ name: "doomed" });
  // Until nothing of doomed is left.
  await dispatch.kube.until(() =>
    ["deployments", "replicasets", "services", "secrets", "pods"].every(
      (resource) => ofFunction(dispatch.kube, resource, "doomed").length === 0,
    ),
  );
  t.pass();
});

test("a pod that cannot start makes the function ERROR with the reason in plain words", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  const undo = dispatch.kube.cluster?.failPods(
    { labels: { "dispatch.dev/function": "unpullable" } },
    { reason: "ImagePullBackOff", message: 'Back-off pulling image "dispatch/runtime-nodejs:test"' },
  );
  t.teardown(() => undo?.());
  const fn = await deploy(api, "unpullable", "u.js", "export default async () => 1;\n");
  t.is(fn.status?.phase, Phase.ERROR);
  t.regex(fn.status?.reason.join("; ") ?? "", /cannot pull dispatch\/runtime-nodejs:test/);
});

test("a pod no node can run, or one that keeps crashing, makes the function ERROR saying so", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  const undoBig = dispatch.kube.cluster?.failPods(
    { labels: { "dispatch.dev/function": "huge" } },
    { reason: "Unschedulable", message: "0/1 nodes are available: 1 Insufficient memory." },
  );
  const undoCrash = dispatch.kube.cluster?.failPods(
    { labels: { "dispatch.dev/function": "crashy" } },
    { reason: "CrashLoopBackOff", exitCode: 3, restarts: 2 },
  );
  t.teardown(() => {
    undoBig?.();
    undoCrash?.();
  });
  const [huge, crashy] = await Promise.all([
    deploy(api, "huge", "huge.js", "export default async () => 1;\n"),
    deploy(api, "crashy", "crashy.js", "export default async () => 1;\n"),
  ]);
  t.is(huge.status?.phase, Phase.ERROR);
  t.regex(
    huge.status?.reason.join("; ") ?? "",
    /no node can run it: 0\/1 nodes are available: 1 Insufficient memory/,
  );
  t.is(crashy.status?.phase, Phase.ERROR);
  t.regex(crashy.status?.reason.join("; ") ?? "", /it keeps crashing \(exit code 3; restarted \d+ times?\)/);
});

test("a pod killed for memory is restarted by the kubelet; the function says why, and serves again", async (t) => {
  const { dispatch } = t.context;
  const api = functionClients(dispatch);
  await deploy(api, "greedy", "greedy.js", helloJs, { resources: { memory: "128Mi" } });
  const [pod] = ofFunction(dispatch.kube, "pods", "greedy");
  await dispatch.kube.cluster?.crash("dispatch", String(pod?.metadata?.name), { reason: "OOMKilled" });
  const told = await until(api, "greedy", (fn) =>
    /out of memory \(limit 128Mi\)/.test(fn.status?.reason.join("; ") ?? ""),
  );
  // "instance … crashed (out of memory …)" from the pool, or, if the kubelet's back-off is seen
  // first, the pod's own "it keeps crashing (out of memory …; restarted 1 time)".
  t.regex(told.status?.reason.join("; ") ?? "", /crash(ed|ing) \(out of memory \(limit 128Mi\)/);
  const run = await exec(api, "greedy", { name: "again" });
  t.deepEqual(outputOf(run), { myField: "Hello, again from Nowhere" });
});
