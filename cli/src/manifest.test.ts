import { create, equals } from "@bufbuild/protobuf";
import { SecretSpecSchema } from "@dispatch/proto";
import test from "ava";
import { ManifestError, parseManifest } from "./manifest.js";

const seed = `kind: Secret
meta:
  name: open-sesame
  tags: {team: core}
spec:
  data:
    password: s3cret
---
kind: API
name: post-hello
spec:
  function: hello
  methods: [POST]
  paths: [/hello]
---
kind: Function
meta: {name: hello, org: acme}
spec:
  runtime: nodejs
  handler: hello.js
  timeout: 5s
  scale: {min: 1, max: 3}
`;

function problems(text: string): readonly string[] {
  const err = (() => {
    try {
      parseManifest(text, "seed.yaml");
    } catch (e) {
      return e;
    }
    throw new Error("expected the manifest to be rejected");
  })();
  if (!(err instanceof ManifestError)) throw err;
  return err.problems;
}

test("manifest: every document of a multi-document file is read, in order", (t) => {
  const docs = parseManifest(seed, "seed.yaml");
  t.deepEqual(
    docs.map((d) => [d.index, d.kind.kind, d.name, d.org]),
    [
      [1, "Secret", "open-sesame", ""],
      [2, "Endpoint", "post-hello", ""],
      [3, "Function", "hello", "acme"],
    ],
  );
  t.deepEqual(docs[0]?.tags, { team: "core" });
  t.true(
    equals(
      SecretSpecSchema,
      docs[0]?.spec as never,
      create(SecretSpecSchema, { data: { password: "s3cret" } }),
    ),
  );
  t.deepEqual(
    docs.map((d) => d.line),
    [1, 9, 16],
  );
});

test("manifest: API is accepted as the kind of an endpoint", (t) => {
  const [doc] = parseManifest("kind: API\nname: a\nspec: {function: f}\n", "x");
  t.is(doc?.kind.kind, "Endpoint");
});

test("manifest: an unknown kind names its document and line, and lists the known kinds", (t) => {
  const [problem, ...rest] = problems(`${seed}---\nkind: Widget\nname: w\n`);
  t.deepEqual(rest, []);
  t.regex(problem ?? "", /^document 4, line 24: unknown kind "Widget"/);
  t.regex(problem ?? "", /Function, Endpoint or API, Subscription, Secret, Organization/);
});

test("manifest: malformed YAML is reported with its document, line and column", (t) => {
  const [problem] = problems("kind: Secret\nname: a\n---\nkind: Secret\nmeta: {name: b\n");
  t.regex(problem ?? "", /^document 2, line \d+, column \d+: /);
});

test("manifest: unknown spec fields are reported at their own line with their path", (t) => {
  const found = problems(
    "kind: Function\nname: f\nspec:\n  runtime: nodejs\n  scale:\n    minimum: 1\n  bogus: 2\n",
  );
  t.deepEqual(found, [
    'document 1, line 6: Function "f": unknown field "spec.scale.minimum"',
    'document 1, line 7: Function "f": unknown field "spec.bogus"',
  ]);
});

test("manifest: unknown fields inside lists of messages are found too", (t) => {
  const found = problems(
    "kind: Subscription\nname: s\nspec:\n  function: f\n  filters:\n    - exact: {attributes: {type: a}}\n    - exakt: {}\n",
  );
  t.deepEqual(found, ['document 1, line 7: Subscription "s": unknown field "spec.filters[1].exakt"']);
});

test("manifest: values of the wrong type are explained", (t) => {
  const [duration] = problems("kind: Function\nname: f\nspec: {timeout: forever}\n");
  t.regex(duration ?? "", /spec: "forever" is not a duration \(write e\.g\. "30s"/);
  const [ordering] = problems("kind: Subscription\nname: s\nspec: {ordering: sideways}\n");
  t.regex(
    ordering ?? "",
    /"sideways" is not a Ordering \(use one of ORDERING_UNSPECIFIED, ORDERING_UNORDERED/,
  );
});

test("manifest: every problem in the file is reported at once", (t) => {
  const found = problems(
    "kind: Nope\n---\nkind: Secret\n---\nkind: Secret\nname: Bad_Name\n---\nkind: Secret\nname: ok\nextra: 1\n",
  );
  t.is(found.length, 4);
  t.regex(found[0] ?? "", /document 1.*unknown kind "Nope"/);
  t.regex(found[1] ?? "", /document 2.*has no name/);
  t.regex(found[2] ?? "", /document 3.*name "Bad_Name" is not valid/);
  t.regex(found[3] ?? "", /document 4, line 10.*unknown field "extra"/);
});

test("manifest: server-owned meta and status are accepted and ignored", (t) => {
  const [doc] = parseManifest(
    `kind: Secret
meta: {name: a, uid: 9c15, revision: "4", generation: "2", created: "2026-01-01T00:00:00Z"}
spec: {data: {k: v}}
status: {phase: PHASE_READY, observedGeneration: "2"}
keys: [k]
`,
    "x",
  );
  t.is(doc?.name, "a");
});

test("manifest: a list document (get -o yaml of several objects) yields each item", (t) => {
  const docs = parseManifest("items:\n  - kind: Secret\n    name: a\n  - kind: Secret\n    name: b\n", "x");
  t.deepEqual(
    docs.map((d) => [d.index, d.item, d.name, d.line]),
    [
      [1, 1, "a", 2],
      [1, 2, "b", 4],
    ],
  );
});

test("manifest: the same object twice in one file is an error", (t) => {
  const [problem] = problems("kind: Secret\nname: a\n---\nkind: Secret\nname: a\n");
  t.is(problem, 'document 2, line 4: Secret "a" is also defined in document 1, line 1');
});

test("manifest: a secret printed without --reveal is refused instead of emptying the secret", (t) => {
  const [problem] = problems("kind: Secret\nmeta: {name: db}\nspec: {}\nkeys: [password]\n");
  t.regex(problem ?? "", /has keys \(password\) but no values.*--reveal/);
});

test("manifest: empty documents are skipped, and a file of none yields nothing", (t) => {
  t.deepEqual(parseManifest("", "x"), []);
  t.is(parseManifest("---\nkind: Secret\nname: a\n---\n", "x").length, 1);
});

test("manifest: a scalar document is not an object", (t) => {
  const [problem] = problems("just a string\n");
  t.regex(problem ?? "", /document 1, line 1: expected a mapping with kind, meta and spec/);
});
