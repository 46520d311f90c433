import { execFile } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { matchGolden } from "@dispatch/testkit";
import test from "ava";
import { parseAllDocuments } from "yaml";

// The real `dispatch` binary: `dispatch install --dry-run` needs no cluster.
const bin = fileURLToPath(new URL("../../bin/dispatch.js", import.meta.url));
const testdata = (name: string) => fileURLToPath(new URL(`../../testdata/install/${name}`, import.meta.url));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function dispatch(args: string[], stdin = ""): Promise<Result> {
  const home = await mkdtemp(join(tmpdir(), "dispatch-install-"));
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [bin, ...args],
      // No KUBECONFIG and an empty home: nothing here may reach a cluster.
      { env: { PATH: process.env.PATH, HOME: home }, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(stdin);
  });
}

/** The customised installation of the golden test: a config file and flags over it. */
const customArgs = [
  "install",
  "--dry-run",
  "-o",
  "yaml",
  "-f",
  testdata("custom-config.yaml"),
  "--replicas",
  "xds-server=3",
  "--set",
  "eventBroker.resources.limits.memory=1Gi",
];

/** The objects of a YAML stream. */
function documents(text: string): Record<string, unknown>[] {
  return parseAllDocuments(text).map((doc) => doc.toJS() as Record<string, unknown>);
}

test("install --dry-run -o yaml: the default installation is its golden file", async (t) => {
  const result = await dispatch(["install", "--dry-run", "-o", "yaml"]);
  t.is(result.code, 0, result.stderr);
  t.is(result.stderr, "");
  await matchGolden(t, testdata("default.yaml"), result.stdout);
});

test("install --dry-run -o yaml: a customised config with flags over it is its golden file", async (t) => {
  const result = await dispatch(customArgs);
  t.is(result.code, 0, result.stderr);
  await matchGolden(t, testdata("custom.yaml"), result.stdout);
  const objects = documents(result.stdout);
  // The flags won over the file and the defaults.
  const deployment = (name: string) =>
    objects.find((o) => o.kind === "Deployment" && (o.metadata as { name: string }).name === name) as {
      spec: { replicas: number; template: { spec: { containers: { resources: unknown; image: string }[] } } };
    };
  t.is(deployment("dispatch-xds-server").spec.replicas, 3);
  t.is(deployment("dispatch-control-plane").spec.replicas, 3);
  t.deepEqual(deployment("dispatch-event-broker").spec.template.spec.containers[0]?.resources, {
    requests: { cpu: "100m", memory: "128Mi" },
    limits: { cpu: "1", memory: "1Gi" },
  });
  t.is(
    deployment("dispatch-control-plane").spec.template.spec.containers[0]?.image,
    "registry.example.com/platform/dispatch/control-plane:2.3.1",
  );
  t.true(
    objects.every(
      (o) => o.kind === "Namespace" || (o.metadata as { namespace: string }).namespace === "prod",
    ),
  );
});

test("install --dry-run -o json prints the same objects as one v1 List, the note on stderr", async (t) => {
  const [yaml, json] = await Promise.all([
    dispatch(customArgs),
    dispatch(customArgs.map((arg) => (arg === "yaml" ? "json" : arg))),
  ]);
  t.is(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as { apiVersion: string; kind: string; items: unknown[] };
  t.is(list.apiVersion, "v1");
  t.is(list.kind, "List");
  t.deepEqual(list.items, documents(yaml.stdout));
  t.regex(json.stderr, /Secrets that dispatch install creates when they are missing/);
});

test("install --dry-run prints the same bytes every time (sorted, no clock, no randomness)", async (t) => {
  const [a, b] = await Promise.all([dispatch(customArgs), dispatch(customArgs)]);
  t.is(a.code, 0, a.stderr);
  t.is(a.stdout, b.stdout);
});

test("a bad install config names every bad field and exits 2", async (t) => {
  const result = await dispatch(
    [
      "install",
      "--dry-run",
      "-f",
      "-",
      "--namespace",
      "Prod_1",
      "--replicas",
      "nats=4",
      "--set",
      "controlPlane.replica=3",
    ],
    "hosts: [api.example.com]\n",
  );
  t.is(result.code, 2);
  t.is(result.stdout, "");
  t.regex(result.stderr, /^error: <stdin> is invalid:\n/);
  t.regex(
    result.stderr,
    /namespace: "Prod_1" is not a valid namespace name: use at most 63 lowercase letters, digits and '-'.*\(e\.g\. "prod-1"\)/,
  );
  t.regex(result.stderr, /nats\.replicas: must be 1, 3 or 5, not 4/);
  t.regex(
    result.stderr,
    /--set controlPlane\.replica: no such setting; did you mean "controlPlane\.replicas"\?/,
  );
});

test("an unknown key in the config file is named with the key it was probably meant to be", async (t) => {
  const config = testdata("typo-config.yaml");
  const result = await dispatch(["install", "--dry-run", "-f", config]);
  t.is(result.code, 2);
  t.regex(result.stderr, /nats\.storage\.sise: unknown key; did you mean "size"\?/);
  t.regex(result.stderr, /envoy\.replicas: must be a whole number, not "two"/);
  t.regex(result.stderr, /xdsServer\.replicas: must be a whole number from 1 to 10, not 0/);
});

test("install without a cluster to talk to says how to name one, and exits 2", async (t) => {
  const result = await dispatch(["install"]);
  t.is(result.code, 2);
  t.regex(result.stderr, /no kubeconfig found: name one with --kubeconfig FILE or \$KUBECONFIG/);
});

test("-o is only for --dry-run, and table is not a manifest format", async (t) => {
  const applying = await dispatch(["install", "-o", "json"]);
  t.is(applying.code, 2);
  t.regex(applying.stderr, /-o is for --dry-run/);
  const table = await dispatch(["install", "--dry-run", "-o", "table"]);
  t.is(table.code, 2);
  t.regex(table.stderr, /install --dry-run prints yaml or json, not table/);
});

test("install and uninstall --help show examples", async (t) => {
  for (const command of ["install", "uninstall"]) {
    const help = await dispatch([command, "--help"]);
    t.is(help.code, 0);
    t.regex(help.stdout, new RegExp(`Examples:\\n  dispatch ${command} `));
    t.regex(help.stdout, /--dry-run/);
  }
});
