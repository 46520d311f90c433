import { create } from "@bufbuild/protobuf";
import { EndpointSpecSchema, FunctionSpecSchema } from "@dispatch/proto";
import test from "ava";
import { specsEqual, tagsEqual } from "./diff.js";

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
