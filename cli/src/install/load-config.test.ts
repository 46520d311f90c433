import test from "ava";
import { flagOverrides } from "./flag-overrides.js";
import { InstallConfigError, loadInstallConfig } from "./load-config.js";

const load = (text?: string, flags: Parameters<typeof flagOverrides>[0] = { timeoutMs: 1 }) =>
  loadInstallConfig({
    ...(text === undefined ? {} : { text, source: "test.yaml" }),
    overrides: flagOverrides(flags),
    defaultTag: "9.9.9",
  });

function violations(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof InstallConfigError) return err.violations.map((v) => `${v.field}: ${v.message}`);
    throw err;
  }
  return [];
}

test("install config: no file and no flags is every default, the tag the CLI's version", (t) => {
  const config = load();
  t.is(config.namespace, "dispatch");
  t.is(config.images.tag, "9.9.9");
  t.is(config.controlPlane.replicas, 2);
  t.is(config.nats.replicas, 3);
  t.is(config.nats.storage.size, "10Gi");
  t.deepEqual(config.hosts, []);
  t.true(config.functions.internetEgress);
  // An empty file, or one of only comments, is the same.
  t.deepEqual(load("# nothing here\n"), config);
});

test("install config: flags win over the file, and --set reaches every setting, lists split at commas", (t) => {
  const config = load("namespace: from-file\nnats:\n  replicas: 1\nhosts: [file.example.com]\n", {
    timeoutMs: 1,
    namespace: "from-flag",
    replicas: ["nats=5", "envoy=3"],
    set: ["hosts=a.example.com, b.example.com", "functions.internetEgress=false", "images.tag=1.0"],
    storageSize: "20Gi",
  });
  t.is(config.namespace, "from-flag");
  t.is(config.nats.replicas, 5);
  t.is(config.envoy.replicas, 3);
  t.deepEqual(config.hosts, ["a.example.com", "b.example.com"]);
  t.false(config.functions.internetEgress);
  // From the command line a tag stays text: "1.0", not the number 1.
  t.is(config.images.tag, "1.0");
  t.is(config.nats.storage.size, "20Gi");
});

test("install config: every violation at once, each with its field", (t) => {
  const found = violations(() =>
    load(
      [
        "namespace: -bad-",
        "hosts: [ok.example.com, 'not a host', 3]",
        "images: {registry: 'https://r.example.com/', tag: 1.0, pullPolicy: Sometimes}",
        "controlPlane: {replicas: 11, serviceType: Ingress}",
        "nats: {replicas: 2, storage: {size: ten}}",
        "envoy: {port: 70000, resources: {limits: {cpu: lots}}}",
        "functions: {internetEgress: yes please}",
        "extra: 1",
      ].join("\n"),
    ),
  );
  t.deepEqual(
    found.map((v) => v.split(":")[0]),
    [
      "extra",
      "namespace",
      "hosts[1]",
      "hosts[2]",
      "images.registry",
      "images.tag",
      "images.pullPolicy",
      "controlPlane.replicas",
      "controlPlane.serviceType",
      "envoy.port",
      "envoy.resources.limits.cpu",
      "nats.replicas",
      "nats.storage.size",
      "functions.internetEgress",
    ],
  );
  t.true(found.includes("images.tag: must be a string, not 1: put the value in quotes"));
  t.true(
    found.includes(
      'controlPlane.serviceType: must be one of ClusterIP, NodePort, LoadBalancer, not "Ingress"',
    ),
  );
  t.true(found.some((v) => v.startsWith("extra: unknown key (the top level has namespace, clusterDomain")));
});

test("install config: a quantity may be a YAML number; a request above its limit is named with both values", (t) => {
  t.is(load("nats:\n  resources:\n    limits: {cpu: 4}\n").nats.resources.limits.cpu, "4");
  t.deepEqual(
    violations(() => load("nats:\n  resources:\n    requests: {cpu: 3}\n    limits: {cpu: 2500m}\n")),
    [
      "nats.resources.requests.cpu: 3 is above the limit (nats.resources.limits.cpu: 2500m); a request may not exceed its limit",
    ],
  );
});

test("install config: YAML that does not parse names its line; a list at the top level is refused", (t) => {
  t.deepEqual(
    violations(() => load("namespace: a\nnamespace: b\n")).map((v) => v.split(":")[0]),
    ["line 2"],
  );
  t.deepEqual(
    violations(() => load("- a\n- b\n")),
    ["(top level): must be a mapping of settings, such as namespace: dispatch"],
  );
});

test("install config: inherited names are not keys (no prototype lookups)", (t) => {
  t.deepEqual(
    violations(() => load("constructor: 1\ntoString: 2\n")).map((v) => v.split(":")[0]),
    ["constructor", "toString"],
  );
  t.deepEqual(
    violations(() => load(undefined, { timeoutMs: 1, set: ["__proto__.polluted=1"] })).map(
      (v) => v.split(":")[0],
    ),
    ["--set __proto__.polluted"],
  );
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

test("flags: --replicas and --set refuse what they cannot parse, saying the form", (t) => {
  t.throws(() => flagOverrides({ timeoutMs: 1, replicas: ["gateway=2"] }), {
    message:
      /--replicas takes COMPONENT=N with a component of control-plane, xds-server, event-broker, envoy, nats, not "gateway=2"/,
  });
  t.throws(() => flagOverrides({ timeoutMs: 1, set: ["nats.replicas"] }), {
    message: /--set takes PATH=VALUE/,
  });
});
