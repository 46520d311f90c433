import { create } from "@bufbuild/protobuf";
import { EndpointSpecSchema, FunctionSpecSchema, ScaleSchema } from "@dispatch/proto";
import test from "ava";
import { normalizeSpec, specsEqual, tagsEqual } from "./diff.js";

test("diff: an empty nested message equals an absent one", (t) => {
  const a = create(FunctionSpecSchema, { runtime: "nodejs", scale: {} });
  const b = create(FunctionSpecSchema, { runtime: "nodejs" });
  t.true(specsEqual(FunctionSpecSchema, a, b));
  t.true(specsEqual(FunctionSpecSchema, undefined, create(FunctionSpecSchema)));
});

test("diff: any real difference is seen", (t) => {
  const a = create(FunctionSpecSchema, { runtime: "nodejs", scale: { min: 1 } });
  const b = create(FunctionSpecSchema, { runtime: "nodejs", scale: { min: 2 } });
  t.false(specsEqual(FunctionSpecSchema, a, b));
  t.false(specsEqual(FunctionSpecSchema, a, create(FunctionSpecSchema, { runtime: "nodejs" })));
});

test("diff: a oneof member that is set counts even when its value is empty", (t) => {
  const jwt = create(EndpointSpecSchema, { auth: { mode: { case: "jwt", value: {} } } });
  t.false(specsEqual(EndpointSpecSchema, jwt, create(EndpointSpecSchema, { auth: {} })));
});

test("diff: tags compare as maps", (t) => {
  t.true(tagsEqual({ a: "1", b: "2" }, { b: "2", a: "1" }));
  t.false(tagsEqual({ a: "1" }, { a: "1", b: "2" }));
  t.false(tagsEqual({ a: "1" }, { a: "2" }));
});

test("diff: specs with a JSON Schema (a google.protobuf.Struct) compare without failing", (t) => {
  const schema = { type: "object", properties: { name: { type: "string" } }, required: ["name"] };
  const a = create(FunctionSpecSchema, { runtime: "nodejs", schema: { in: schema } });
  const b = create(FunctionSpecSchema, { runtime: "nodejs", schema: { in: structuredClone(schema) } });
  t.true(specsEqual(FunctionSpecSchema, a, b));
  t.false(specsEqual(FunctionSpecSchema, a, create(FunctionSpecSchema, { runtime: "nodejs" })));
  const other = create(FunctionSpecSchema, {
    runtime: "nodejs",
    schema: { in: { ...schema, required: [] } },
  });
  t.false(specsEqual(FunctionSpecSchema, a, other), "a change deep inside the schema is seen");
  t.false(
    specsEqual(
      FunctionSpecSchema,
      a,
      create(FunctionSpecSchema, { runtime: "nodejs", schema: { out: schema } }),
    ),
  );
});

test("diff: normalizing leaves a Struct field as the JSON object it was", (t) => {
  const spec = create(FunctionSpecSchema, { schema: { in: { type: "object" } }, scale: {} });
  const normal = normalizeSpec(FunctionSpecSchema, spec);
  t.deepEqual(normal.schema?.in, { type: "object" });
  t.is(normal.scale, undefined);
  t.deepEqual(spec.scale, create(ScaleSchema), "the original is not changed");
});
