import test from "ava";
import { decodeFieldsV1, encodeFieldsV1, FieldSet, fieldsOf } from "../src/fake-kube/field-paths.js";
import { clone, type JsonObject, type JsonValue } from "../src/fake-kube/json.js";
import { jsonPatch, mergePatch, strategicMergePatch } from "../src/fake-kube/patches.js";
import { matchesLabels, parseFieldSelector, parseLabelSelector } from "../src/fake-kube/selectors.js";
import { KubeStatusError } from "../src/fake-kube/status-error.js";

test("fake kube rules: label selectors follow the real grammar", (t) => {
  const labels = { app: "web", tier: "front", rank: "3" };
  const cases: [string, boolean][] = [
    ["", true],
    ["app=web", true],
    ["app==web", true],
    ["app!=web", false],
    ["app in (api, web)", true],
    ["app notin (api,web)", false],
    ["tier,app=web", true],
    ["!tier", false],
    ["!missing", true],
    ["missing!=x", true],
    ["rank>2", true],
    ["rank<2", false],
    ["app in (web),tier notin (back)", true],
  ];
  for (const [selector, expected] of cases) {
    t.is(matchesLabels(parseLabelSelector(selector), labels), expected, selector);
  }
  t.true(matchesLabels(parseLabelSelector("empty="), { empty: "" }), "an empty value is a value");
  for (const bad of ["a b c", "app in web", "Bad Key=x", "app=(x)", "-app=x"]) {
    const error = t.throws(() => parseLabelSelector(bad));
    t.true(error instanceof KubeStatusError && error.code === 400, bad);
  }
  t.throws(() => parseFieldSelector("spec.replicas=1", "Deployment"), {
    message: /field label not supported: spec.replicas/,
  });
  t.deepEqual(parseFieldSelector("status.phase!=Running", "Pod"), [
    { field: "status.phase", equals: false, value: "Running" },
  ]);
});

test("fake kube rules: JSON patch (RFC 6902) and merge patch (RFC 7386)", (t) => {
  const doc = { a: { "b/c": 1, "d~e": 2 }, list: [1, 2, 3] };
  t.deepEqual(
    jsonPatch(doc, [
      { op: "add", path: "/list/-", value: 4 },
      { op: "remove", path: "/list/0" },
      { op: "replace", path: "/a/b~1c", value: 10 },
      { op: "move", from: "/a/d~0e", path: "/moved" },
      { op: "copy", from: "/moved", path: "/copied" },
      { op: "test", path: "/copied", value: 2 },
    ]),
    { a: { "b/c": 10 }, list: [2, 3, 4], moved: 2, copied: 2 },
  );
  t.deepEqual(doc.list, [1, 2, 3], "the input is not changed");
  t.throws(() => jsonPatch(doc, [{ op: "replace", path: "/nope", value: 1 }]), { message: /does not exist/ });
  t.throws(() => jsonPatch(doc, { op: "add" }), { message: /JSON array/ });
  t.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1] }, { a: null, b: { c: 5 }, l: [2] }), {
    b: { c: 5, d: 3 },
    l: [2],
  });
});

test("fake kube rules: strategic merge patch merges containers by name and honours $patch", (t) => {
  const deployment = {
    spec: {
      template: {
        spec: {
          containers: [
            { name: "a", image: "a:1", env: [{ name: "X", value: "1" }] },
            { name: "b", image: "b:1" },
          ],
        },
      },
    },
    metadata: { finalizers: ["one"] },
  };
  const patched = strategicMergePatch(deployment, {
    metadata: { finalizers: ["two"] },
    spec: {
      template: {
        spec: {
          "$setElementOrder/containers": [{ name: "a" }, { name: "c" }],
          containers: [
            { name: "a", env: [{ name: "Y", value: "2" }] },
            { name: "b", $patch: "delete" },
            { name: "c", image: "c:1" },
          ],
        },
      },
    },
  });
  t.deepEqual(patched, {
    spec: {
      template: {
        spec: {
          containers: [
            {
              name: "a",
              image: "a:1",
              env: [
                { name: "X", value: "1" },
                { name: "Y", value: "2" },
              ],
            },
            { name: "c", image: "c:1" },
          ],
        },
      },
    },
    metadata: { finalizers: ["one", "two"] },
  });
});

test("fake kube rules: field sets round-trip through FieldsV1 with list items by key", (t) => {
  const set = fieldsOf({
    metadata: { labels: { app: "web" } },
    spec: {
      replicas: 1,
      template: { spec: { containers: [{ name: "w", ports: [{ containerPort: 80 }] }] } },
    },
  });
  const tree = encodeFieldsV1(set);
  t.deepEqual(tree, {
    "f:metadata": { "f:labels": { "f:app": {} } },
    "f:spec": {
      "f:replicas": {},
      "f:template": {
        "f:spec": {
          "f:containers": {
            'k:{"name":"w"}': {
              ".": {},
              "f:name": {},
              "f:ports": { 'k:{"containerPort":80,"protocol":"TCP"}': { ".": {}, "f:containerPort": {} } },
            },
          },
        },
      },
    },
  });
  const back = decodeFieldsV1(tree);
  t.deepEqual(
    back
      .paths()
      .map((p) => JSON.stringify(p))
      .sort(),
    set
      .paths()
      .map((p) => JSON.stringify(p))
      .sort(),
  );
  t.is(new FieldSet(back.paths()).size, set.size);
});

test("fake kube rules: a deep copy is independent, keeps undefined as structuredClone does, and takes a __proto__ key as data", (t) => {
  const original = JSON.parse(
    '{"data": {"__proto__": {"polluted": "yes"}, "a": [1, {"b": null}]}}',
  ) as JsonObject;
  const copy = clone(original);
  t.deepEqual(copy, original);
  ((copy.data as JsonObject).a as JsonValue[]).push(2);
  t.is(((original.data as JsonObject).a as JsonValue[]).length, 2, "nothing is shared");
  const data = copy.data as JsonObject;
  t.true(Object.hasOwn(data, "__proto__"), "an own key, as JSON.parse made it");
  t.is(Object.getPrototypeOf(data), Object.prototype, "not a prototype");
  t.is((data as { polluted?: unknown }).polluted, undefined);
  t.deepEqual(
    Object.keys(clone({ x: undefined } as unknown as JsonObject)),
    Object.keys(structuredClone({ x: undefined })),
  );
});
