import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { type DescMessage, type Message, toJson } from "@bufbuild/protobuf";
import {
  ClusterLoadAssignmentSchema,
  ClusterSchema,
  ListenerSchema,
  RouteConfigurationSchema,
  registry,
} from "@dispatch/proto/envoy";
import test from "ava";
import { checkMessage, resolveTranslateOptions, translateIngress } from "../src/index.js";
import { fixtureOptions, type SnapshotFixture, snapshotOf } from "./support/snapshot.js";

// Golden tests of the translator: each `test/golden/<case>.in.json` (a snapshot
// of endpoints, functions and token secrets) is translated and compared with
// `<case>.out.json` (its problems, the IR, and the Envoy resources as proto3
// JSON). `UPDATE_GOLDEN=1` rewrites the outputs; review them as diffs.

const dir = new URL("../../test/golden/", import.meta.url);
const update = process.env.UPDATE_GOLDEN === "1";
const cases = readdirSync(dir)
  .filter((f) => f.endsWith(".in.json"))
  .map((f) => f.slice(0, -".in.json".length))
  .sort();

test("golden: there is a case for every endpoint feature", (t) => {
  const features = [
    "auth-jwt",
    "auth-token",
    "bad-input",
    "cors",
    "exact-path",
    "function-not-ready",
    "hosts",
    "https-only",
    "match-order",
    "methods",
    "org-prefix",
    "prefix-path",
    "rate-limit",
    "regex-path",
    "retries",
    "scaled-to-zero",
    "timeout",
    "warm-path-activator",
    "weighted-backends",
  ];
  t.deepEqual(
    features.filter((f) => !cases.includes(f)),
    [],
  );
});

function json(schema: DescMessage, message: Message) {
  return toJson(schema, message, { registry });
}

for (const name of cases) {
  test(`golden: ${name}`, (t) => {
    const fixture = JSON.parse(readFileSync(new URL(`${name}.in.json`, dir), "utf8")) as SnapshotFixture;
    const options = resolveTranslateOptions({ ...fixtureOptions, ...fixture.options });
    const result = translateIngress(snapshotOf(fixture), options, (r) => checkMessage(r.schema, r.message));
    // What is served passes Envoy's own rules.
    for (const r of result.resources)
      t.deepEqual(checkMessage(r.schema, r.message), [], `${r.typeUrl} ${r.name}`);
    const actual = `${JSON.stringify(
      {
        problems: result.problems,
        ir: result.ir,
        envoy: {
          clusters: result.envoy.clusters.map((m) => json(ClusterSchema, m)),
          clusterLoadAssignments: result.envoy.clusterLoadAssignments.map((m) =>
            json(ClusterLoadAssignmentSchema, m),
          ),
          listeners: result.envoy.listeners.map((m) => json(ListenerSchema, m)),
          routeConfigurations: result.envoy.routeConfigurations.map((m) => json(RouteConfigurationSchema, m)),
        },
      },
      null,
      2,
    )}\n`;
    const file = new URL(`${name}.out.json`, dir);
    if (update) {
      writeFileSync(file, actual);
      t.pass();
      return;
    }
    let expected: string;
    try {
      expected = readFileSync(file, "utf8");
    } catch {
      t.fail(`${name}.out.json is missing: run with UPDATE_GOLDEN=1 and review it`);
      return;
    }
    t.is(
      actual,
      expected,
      `${name}: the translation differs from ${name}.out.json (UPDATE_GOLDEN=1 rewrites it)`,
    );
  });
}
