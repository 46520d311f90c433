import { type FakeCluster, startFakeKube } from "@dispatch/testkit";
import test from "ava";
import { connectKube } from "../src/index.js";
import type { KubeObject } from "../src/informer.js";
import { kubeletBackoffMs, podOfInstance, podView, readyEndpoints } from "../src/pod-view.js";

// What the driver reads off pods and EndpointSlices, on JSON shaped as the API
// server returns it: statuses as a kubelet writes them (the fake kubelet in
// testkit/src/fake-kube/cluster/ writes the same shapes), slices as the
// EndpointSlice controller does.

const image = "ghcr.io/dispatch/runtime-nodejs:0.1.0";
const podName = "fn-acme-hello-3-1a2b3c4d-6b8f7c9d5-x7k2p";
const created = "2025-05-01T10:00:00Z";

interface PodOptions {
  memory?: string;
  deleting?: boolean;
  conditions?: Record<string, unknown>[];
  phase?: string;
  containerStatus?: Record<string, unknown>;
}

/** A pod of a revision's Deployment as the API server returns it, with the status `options` give. */
function pod(options: PodOptions = {}): KubeObject {
  return {
    metadata: {
      name: podName,
      generateName: "fn-acme-hello-3-1a2b3c4d-6b8f7c9d5-",
      namespace: "dispatch",
      uid: "9d0c1b2a-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
      resourceVersion: "4711",
      creationTimestamp: created,
      labels: { "dispatch.dev/revision": "fn-acme-hello-3-1a2b3c4d", "pod-template-hash": "6b8f7c9d5" },
      ...(options.deleting
        ? { deletionTimestamp: "2025-05-01T10:05:00Z", deletionGracePeriodSeconds: 35 }
        : {}),
    },
    spec: {
      containers: [
        {
          name: "worker",
          image,
          ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
          resources: options.memory
            ? { requests: { cpu: "100m", memory: options.memory }, limits: { memory: options.memory } }
            : { requests: { cpu: "100m", memory: "128Mi" } },
        },
      ],
      nodeName: "node-1",
    },
    status: {
      phase: options.phase ?? "Running",
      conditions: options.conditions ?? [],
      ...(options.containerStatus
        ? {
            containerStatuses: [
              {
                name: "worker",
                image,
                imageID: "",
                ready: false,
                started: false,
                restartCount: 0,
                lastState: {},
                ...options.containerStatus,
              },
            ],
          }
        : {}),
    },
  };
}

const condition = (type: string, status: boolean, reason?: string, message?: string) => ({
  type,
  status: status ? "True" : "False",
  lastProbeTime: null,
  lastTransitionTime: created,
  ...(reason ? { reason } : {}),
  ...(message ? { message } : {}),
});

const scheduled = [
  condition("PodScheduled", true),
  condition("Initialized", true),
  condition("ContainersReady", false, "ContainersNotReady", "containers with unready status: [worker]"),
  condition("Ready", false, "ContainersNotReady", "containers with unready status: [worker]"),
];

test("podView: a pod just created, not yet scheduled: its first incarnation, nothing wrong", (t) => {
  t.deepEqual(podView(pod({ phase: "Pending" })), {
    name: podName,
    id: `${podName}.0`,
    restarts: 0,
    terminating: false,
    problem: undefined,
    lastExit: undefined,
  });
});

test("podView: a pending pod whose container is being created has no problem yet", (t) => {
  const view = podView(
    pod({
      phase: "Pending",
      conditions: scheduled,
      containerStatus: { state: { waiting: { reason: "ContainerCreating" } } },
    }),
  );
  t.is(view.id, `${podName}.0`);
  t.is(view.problem, undefined);
  t.is(view.lastExit, undefined);
});

test("podView: a running pod restarted after an OOM kill is its next incarnation, the last one out of memory with its limit", (t) => {
  const view = podView(
    pod({
      memory: "128Mi",
      conditions: scheduled,
      containerStatus: {
        ready: true,
        started: true,
        restartCount: 1,
        state: { running: { startedAt: "2025-05-01T10:02:10Z" } },
        lastState: {
          terminated: {
            exitCode: 137,
            reason: "OOMKilled",
            startedAt: "2025-05-01T10:00:05Z",
            finishedAt: "2025-05-01T10:02:00Z",
            containerID: "containerd://4f2a",
          },
        },
      },
    }),
  );
  t.is(view.id, `${podName}.1`);
  t.is(view.restarts, 1);
  t.deepEqual(view.lastExit, {
    code: 137,
    signal: null,
    stopped: false,
    reason: "out of memory (limit 128Mi)",
  });
  t.is(view.problem, undefined, "it runs again");
});

test("podView: an OOM kill without a memory limit says so without a limit", (t) => {
  const view = podView(
    pod({
      containerStatus: {
        restartCount: 2,
        state: { running: { startedAt: created } },
        lastState: { terminated: { exitCode: 137, reason: "OOMKilled" } },
      },
    }),
  );
  t.is(view.lastExit?.reason, "out of memory");
});

test("podView: a crash with a termination message gives its exit code and message; without one, just the code", (t) => {
  const crashed = (terminated: Record<string, unknown>) =>
    podView(
      pod({
        containerStatus: {
          restartCount: 3,
          state: { running: { startedAt: created } },
          lastState: { terminated },
        },
      }),
    ).lastExit;
  t.deepEqual(crashed({ exitCode: 1, reason: "Error", message: "  Error: cannot find module 'x'\n" }), {
    code: 1,
    signal: null,
    stopped: false,
    reason: "exit code 1: Error: cannot find module 'x'",
  });
  t.deepEqual(crashed({ exitCode: 2, reason: "Error" }), { code: 2, signal: null, stopped: false });
  const long = crashed({ exitCode: 1, reason: "Error", message: "x".repeat(2000) });
  t.true((long?.reason?.length ?? 0) <= "exit code 1: ".length + 300, "a long message is cut");
});

test("podView: a last state is only an exit once the container restarted", (t) => {
  const view = podView(
    pod({
      containerStatus: {
        restartCount: 0,
        state: { running: { startedAt: created } },
        lastState: { terminated: { exitCode: 1, reason: "Error" } },
      },
    }),
  );
  t.is(view.lastExit, undefined);
});

test("podView: a pod being deleted is terminating", (t) => {
  const view = podView(
    pod({ deleting: true, containerStatus: { ready: false, state: { running: { startedAt: created } } } }),
  );
  t.true(view.terminating);
  t.false(podView(pod()).terminating);
});

test("podView: ErrImagePull and ImagePullBackOff: the cluster cannot pull the image, with the kubelet's message", (t) => {
  const pullFailed = podView(
    pod({
      phase: "Pending",
      conditions: scheduled,
      containerStatus: {
        state: {
          waiting: {
            reason: "ErrImagePull",
            message: `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found`,
          },
        },
      },
    }),
  );
  t.is(
    pullFailed.problem,
    `the cluster cannot pull ${image}: rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found (check the image name and the pull secret)`,
  );
  const backOff = podView(
    pod({
      phase: "Pending",
      conditions: scheduled,
      containerStatus: {
        state: { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${image}"` } },
      },
    }),
  );
  t.is(
    backOff.problem,
    `the cluster cannot pull ${image}: Back-off pulling image "${image}" (check the image name and the pull secret)`,
  );
  t.is(backOff.lastExit, undefined);
});

test("podView: an image that cannot be pulled is named from the pod's spec when the status has none", (t) => {
  const view = podView(
    pod({
      phase: "Pending",
      containerStatus: { image: "", state: { waiting: { reason: "ImagePullBackOff" } } },
    }),
  );
  t.is(
    view.problem,
    `the cluster cannot pull ${image}: ImagePullBackOff (check the image name and the pull secret)`,
  );
});

test("podView: CreateContainerConfigError: its container cannot be created, with the kubelet's message", (t) => {
  const view = podView(
    pod({
      phase: "Pending",
      conditions: scheduled,
      containerStatus: {
        state: {
          waiting: {
            reason: "CreateContainerConfigError",
            message: 'secret "fn-acme-hello-3-1a2b3c4d" not found',
          },
        },
      },
    }),
  );
  t.is(view.problem, 'its container cannot be created: secret "fn-acme-hello-3-1a2b3c4d" not found');
});

test("podView: CrashLoopBackOff: it keeps crashing, with how it last ended and how often it restarted", (t) => {
  const looping = (restartCount: number, terminated: Record<string, unknown> | undefined, memory?: string) =>
    podView(
      pod({
        ...(memory ? { memory } : {}),
        conditions: scheduled,
        containerStatus: {
          restartCount,
          state: {
            waiting: {
              reason: "CrashLoopBackOff",
              message: `back-off 40s restarting failed container=worker pod=${podName}_dispatch(9d0c)`,
            },
          },
          lastState: terminated ? { terminated } : {},
        },
      }),
    );
  const crashed = looping(3, {
    exitCode: 1,
    reason: "Error",
    startedAt: created,
    finishedAt: "2025-05-01T10:00:01Z",
  });
  t.is(crashed.problem, "it keeps crashing (exit code 1; restarted 3 times)");
  t.is(crashed.id, `${podName}.3`);
  t.deepEqual(crashed.lastExit, { code: 1, signal: null, stopped: false });
  t.is(
    looping(2, { exitCode: 137, reason: "OOMKilled" }, "64Mi").problem,
    "it keeps crashing (out of memory (limit 64Mi); restarted 2 times)",
  );
  t.is(
    looping(5, { exitCode: 1, reason: "Error", message: "SyntaxError: Unexpected token" }).problem,
    "it keeps crashing (exit code 1: SyntaxError: Unexpected token; restarted 5 times)",
  );
  t.is(looping(4, undefined).problem, "it keeps crashing (it exits; restarted 4 times)");
  t.is(looping(1, undefined).problem, "it keeps crashing (it exits; restarted 1 time)");
});

test("podView: Unschedulable: no node can run it, with the scheduler's message", (t) => {
  const message =
    "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
  const view = podView(
    pod({
      phase: "Pending",
      conditions: [condition("PodScheduled", false, "Unschedulable", message)],
    }),
  );
  t.is(view.problem, `no node can run it: ${message}`);
  t.is(view.id, `${podName}.0`);
  t.is(
    podView(pod({ phase: "Pending", conditions: [condition("PodScheduled", false, "Unschedulable")] }))
      .problem,
    "no node can run it: the cluster has no room for its requests",
  );
  // Not scheduled yet for another reason (a scheduling gate): nothing wrong to tell.
  t.is(
    podView(pod({ phase: "Pending", conditions: [condition("PodScheduled", false, "SchedulingGated")] }))
      .problem,
    undefined,
  );
});

test("podOfInstance: the pod of an instance id is all before the last dot (pod names may hold dots)", (t) => {
  t.is(podOfInstance(`${podName}.0`), podName);
  t.is(podOfInstance(`${podName}.12`), podName);
  t.is(podOfInstance("a.b.c.3"), "a.b.c");
  t.is(podOfInstance("no-incarnation"), "no-incarnation");
  t.is(podOfInstance(podView(pod()).id), podName, "the inverse of podView's id");
});

test("kubeletBackoffMs: 10 s after the first restart, doubling, at most 5 minutes", (t) => {
  t.is(kubeletBackoffMs(0), 10_000);
  t.is(kubeletBackoffMs(1), 10_000);
  t.is(kubeletBackoffMs(2), 20_000);
  t.is(kubeletBackoffMs(3), 40_000);
  t.is(kubeletBackoffMs(5), 160_000);
  t.is(kubeletBackoffMs(6), 300_000);
  t.is(kubeletBackoffMs(10_000), 300_000);
});

interface EndpointOptions {
  pod?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

const endpoint = (address: string, options: EndpointOptions = {}) => ({
  addresses: [address],
  conditions: {
    ready: options.ready ?? true,
    serving: options.serving ?? options.ready ?? true,
    terminating: options.terminating ?? false,
  },
  nodeName: "node-1",
  ...(options.pod === undefined
    ? {}
    : { targetRef: { kind: "Pod", namespace: "dispatch", name: options.pod, uid: `uid-${options.pod}` } }),
});

/** An EndpointSlice of a revision's Service as the EndpointSlice controller writes it. */
function slice(
  name: string,
  endpoints: unknown[],
  ports: { name?: string; port: number; protocol?: string }[] = [{ name: "http", port: 8080 }],
  addressType = "IPv4",
): KubeObject {
  return {
    kind: "EndpointSlice",
    apiVersion: "discovery.k8s.io/v1",
    metadata: {
      name,
      namespace: "dispatch",
      labels: {
        "kubernetes.io/service-name": "fn-acme-hello-3-1a2b3c4d",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      },
    },
    addressType,
    endpoints,
    ports: ports.map((p) => ({ protocol: "TCP", ...p })),
  };
}

test("readyEndpoints: ready pods' endpoints at the http port; not-ready, terminating and pod-less ones left out", (t) => {
  const ready = readyEndpoints([
    slice("fn-acme-hello-3-1a2b3c4d-abcde", [
      endpoint("10.244.0.5", { pod: "pod-a" }),
      endpoint("10.244.0.6", { pod: "pod-b", ready: false }),
      // Draining: still serving its calls, but taking no new ones.
      endpoint("10.244.0.7", { pod: "pod-c", ready: false, serving: true, terminating: true }),
      // Ready and terminating at once (a Service publishing not-ready addresses): still going.
      endpoint("10.244.0.8", { pod: "pod-d", ready: true, terminating: true }),
      // Not a pod (an endpoint added by hand).
      endpoint("10.244.0.9"),
    ]),
    slice("fn-acme-hello-3-1a2b3c4d-fghij", [endpoint("10.244.0.10", { pod: "pod-e" })]),
  ]);
  t.deepEqual(
    [...ready.values()],
    [
      { pod: "pod-a", url: "http://10.244.0.5:8080" },
      { pod: "pod-e", url: "http://10.244.0.10:8080" },
    ],
  );
  t.deepEqual(ready.get("pod-a"), { pod: "pod-a", url: "http://10.244.0.5:8080" });
});

test("readyEndpoints: the port named http is taken among several; else the first", (t) => {
  const named = readyEndpoints([
    slice(
      "s1",
      [endpoint("10.244.0.5", { pod: "pod-a" })],
      [
        { name: "metrics", port: 9090 },
        { name: "http", port: 18080 },
      ],
    ),
  ]);
  t.is(named.get("pod-a")?.url, "http://10.244.0.5:18080");
  const unnamed = readyEndpoints([
    slice("s2", [endpoint("10.244.0.5", { pod: "pod-a" })], [{ port: 31000 }]),
  ]);
  t.is(unnamed.get("pod-a")?.url, "http://10.244.0.5:31000");
  // A slice without ports (its Service's ports are not resolved for these pods) gives no endpoint.
  t.is(readyEndpoints([slice("s3", [endpoint("10.244.0.5", { pod: "pod-a" })], [])]).size, 0);
});

test("readyEndpoints: an IPv6 address is put in brackets", (t) => {
  const ready = readyEndpoints([
    slice("s6", [endpoint("fd00:10:244::5", { pod: "pod-a" })], [{ name: "http", port: 8080 }], "IPv6"),
  ]);
  t.is(ready.get("pod-a")?.url, "http://[fd00:10:244::5]:8080");
  t.true(URL.canParse(ready.get("pod-a")?.url ?? ""));
});

test("readyEndpoints: a slice with no endpoints (a revision at zero) gives none", (t) => {
  t.is(readyEndpoints([slice("empty", [])]).size, 0);
  // The API server writes an empty list as null.
  const nulls = { metadata: { name: "nulls" }, addressType: "IPv4", endpoints: null, ports: null };
  t.is(readyEndpoints([nulls]).size, 0);
  t.is(readyEndpoints([{ ...nulls, ports: [{ name: "http", port: 8080 }] }]).size, 0);
  t.is(readyEndpoints([]).size, 0);
});

// The same readings on what the fake cluster writes: its kubelet's pod statuses
// (failures as `failPods` gives them) and its EndpointSlice controller's slices.

test("podView and readyEndpoints read the fake cluster's pods and EndpointSlices as the kubelet and controller write them", async (t) => {
  const kube = await startFakeKube({ namespaces: ["dispatch"], cluster: true });
  t.teardown(() => kube.close());
  /** What `look` finds, once it finds something: looked at again at each change the fake sees. */
  const found = async <T>(look: () => T | undefined): Promise<T> => {
    let value: T | undefined;
    await kube.until(() => {
      value = look();
      return value !== undefined;
    });
    return value as T;
  };
  const cluster = kube.cluster as FakeCluster;
  const api = await connectKube({ kubeconfig: kube.kubeconfigPath, env: {} });
  cluster.failPods({ labels: { case: "pull" } }, { reason: "ImagePullBackOff" });
  cluster.failPods({ labels: { case: "crash" } }, { reason: "CrashLoopBackOff", exitCode: 3, restarts: 2 });
  cluster.failPods({ labels: { case: "oom" } }, { reason: "OOMKilled", restarts: 1 });
  cluster.failPods({ labels: { case: "nofit" } }, { reason: "Unschedulable" });
  const create = (path: string, body: unknown) =>
    api.request({ method: "POST", path: `/api/v1/namespaces/dispatch/${path}`, body });
  for (const name of ["pull", "crash", "oom", "nofit", "ok"]) {
    await create("pods", {
      metadata: { name, labels: { case: name } },
      spec: {
        containers: [
          {
            name: "worker",
            image,
            ports: [{ name: "http", containerPort: 8080 }],
            resources: { limits: { memory: "64Mi" } },
          },
        ],
      },
    });
  }
  await create("services", {
    metadata: { name: "ok" },
    spec: {
      clusterIP: "None",
      selector: { case: "ok" },
      ports: [{ name: "http", port: 8080, targetPort: "http" }],
    },
  });
  const viewOf = (name: string) => {
    const found = kube.get("pods", "dispatch", name);
    return found ? podView(found as KubeObject) : undefined;
  };
  const problemOf = (name: string, like: RegExp) =>
    // Until the pod's problem matches.
    found(() => {
      const problem = viewOf(name)?.problem;
      return problem !== undefined && like.test(problem) ? problem : undefined;
    });

  t.is(
    await problemOf("pull", /Back-off/),
    `the cluster cannot pull ${image}: Back-off pulling image "${image}" (check the image name and the pull secret)`,
  );
  t.is(await problemOf("crash", /2 times/), "it keeps crashing (exit code 3; restarted 2 times)");
  t.is(viewOf("crash")?.id, "crash.2");
  t.deepEqual(viewOf("crash")?.lastExit, { code: 3, signal: null, stopped: false });
  t.is(
    await problemOf("oom", /restarted/),
    "it keeps crashing (out of memory (limit 64Mi); restarted 1 time)",
  );
  t.regex(
    await problemOf("nofit", /./),
    /^no node can run it: 0\/1 nodes are available: 1 Insufficient memory/,
  );

  const labelsOf = (object: KubeObject) => (object.metadata?.labels ?? {}) as Record<string, string>;
  const slices = () =>
    (kube.list("endpointslices", "dispatch") as KubeObject[]).filter(
      (s) => labelsOf(s)["kubernetes.io/service-name"] === "ok",
    );
  // Until pod ok has a ready endpoint.
  const endpoint = await found(() => readyEndpoints(slices()).get("ok"));
  t.regex(endpoint.url, /^http:\/\/\d+\.\d+\.\d+\.\d+:8080$/);
  t.is(viewOf("ok")?.problem, undefined);

  await cluster.crash("dispatch", "ok", { reason: "OOMKilled" });
  // Until pod ok has restarted.
  const restarted = await found(() => {
    const view = viewOf("ok");
    return view?.restarts === 1 ? view : undefined;
  });
  t.is(restarted.id, "ok.1");
  t.deepEqual(restarted.lastExit, {
    code: 137,
    signal: null,
    stopped: false,
    reason: "out of memory (limit 64Mi)",
  });
});
