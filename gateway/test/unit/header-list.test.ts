import test from "ava";
import { HeaderList } from "../../src/route-table/header-list.js";

test("header list: toObject with last fields is set() on a copy, and the list itself is unchanged", (t) => {
  const list = new HeaderList([
    ["Host", "client.example"],
    ["x-a", "1"],
    ["x-envoy-attempt-count", "9"],
    ["x-b", "2"],
  ]);
  const copy = new HeaderList(list.entries());
  copy.set("x-envoy-attempt-count", "1");
  copy.set("host", "upstream:80");
  t.deepEqual(
    list.toObject([
      ["x-envoy-attempt-count", "1"],
      ["host", "upstream:80"],
    ]),
    copy.toObject(),
  );
  t.deepEqual(Object.keys(copy.toObject()), ["x-a", "x-b", "x-envoy-attempt-count", "host"]);
  t.is(list.get("x-envoy-attempt-count"), "9");
  t.is(list.get("host"), "client.example");
});

test("header list: toFlat is the same fields in the same order when every name is unique", (t) => {
  const list = new HeaderList([
    ["content-type", "application/json"],
    ["x-request-id", "abc"],
    ["host", "old"],
  ]);
  const last = [["host", "new"]] as const;
  t.deepEqual(list.toFlat(last), ["content-type", "application/json", "x-request-id", "abc", "host", "new"]);
  t.deepEqual(list.toFlat(last), Object.entries(list.toObject(last)).flat());
});

test("header list: toFlat declines repeated names and names an object would reorder", (t) => {
  t.is(
    new HeaderList([
      ["x-a", "1"],
      ["x-b", "2"],
      ["x-a", "3"],
    ]).toFlat(),
    undefined,
  );
  t.is(
    new HeaderList([["x-a", "1"]]).toFlat([["x-a", "2"]])?.join(),
    "x-a,2",
    "a replaced name is not repeated",
  );
  t.is(new HeaderList([["123", "1"]]).toFlat(), undefined);
  t.deepEqual(
    new HeaderList([
      ["x-a", "1"],
      ["x-b", "2"],
      ["x-a", "3"],
    ]).toObject(),
    { "x-a": ["1", "3"], "x-b": "2" },
  );
});

test("header list: get joins repeated values with a comma", (t) => {
  const list = new HeaderList([
    ["accept", "a"],
    ["x", "1"],
    ["accept", "b"],
  ]);
  t.is(list.get("accept"), "a,b");
  t.is(list.get("x"), "1");
  t.is(list.get("missing"), undefined);
});
