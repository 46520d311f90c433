import { type JsonValue, toJson } from "@bufbuild/protobuf";
import { type Filter, FilterSchema } from "@dispatch/proto";
import test from "ava";
import { UsageError } from "../errors.js";
import { parseFilterFile } from "./filter-file.js";

const json = (filters: Filter[]): JsonValue[] => filters.map((f) => toJson(FilterSchema, f));

test("a YAML list of every dialect, nested, becomes the API's filters", (t) => {
  const filters = parseFilterFile(
    `- prefix: {type: com.example.}
- any:
    - exact: {source: /shop}
    - all:
        - suffix: {subject: .png}
        - not: {exact: {subject: test.png}}
- sql: "type LIKE 'com.example.%' AND size > 100"
`,
    "filters.yaml",
  );
  t.deepEqual(json(filters), [
    { prefix: { attributes: { type: "com.example." } } },
    {
      any: {
        filters: [
          { exact: { attributes: { source: "/shop" } } },
          {
            all: {
              filters: [
                { suffix: { attributes: { subject: ".png" } } },
                { not: { exact: { attributes: { subject: "test.png" } } } },
              ],
            },
          },
        ],
      },
    },
    { sql: "type LIKE 'com.example.%' AND size > 100" },
  ]);
});

test("JSON, a filters: object, one filter alone and the -o yaml form read the same", (t) => {
  const expected = [{ exact: { attributes: { type: "a", source: "/b" } } }];
  t.deepEqual(json(parseFilterFile('[{"exact": {"type": "a", "source": "/b"}}]', "f.json")), expected);
  t.deepEqual(json(parseFilterFile("filters:\n  - exact: {type: a, source: /b}\n", "f")), expected);
  t.deepEqual(json(parseFilterFile("exact: {type: a, source: /b}\n", "f")), expected);
  t.deepEqual(json(parseFilterFile("- exact:\n    attributes: {type: a, source: /b}\n", "f")), expected);
});

test("every problem is reported at once, each at its place in the file", (t) => {
  const err = t.throws(
    () =>
      parseFilterFile(
        `- prefix: {Type: x}
- exact: {specversion: 1.0}
- any: []
- not: {sql: ""}
- exact: {type: a}
  prefix: {type: b}
- glob: {type: "*"}
`,
        "bad.yaml",
      ),
    { instanceOf: UsageError },
  );
  const lines = err?.message.split("\n") ?? [];
  t.is(lines[0], "bad.yaml: the filters are not valid:");
  t.deepEqual(lines.slice(1), [
    "filters[0].prefix.Type is not a CloudEvents attribute name (1 to 20 lowercase letters and digits)",
    'filters[1].exact.specversion must be a non-empty string (quote values such as "1.0" or "true")',
    "filters[2].any must be a list of one or more filters",
    `filters[3].not.sql must be a CESQL expression (a string), e.g. "type LIKE 'com.example.%'"`,
    'filters[4] names "exact", "prefix"; a filter names exactly one dialect (exact, prefix, suffix, all, any, not, sql): put several in a list to have all of them match',
    'filters[5] names "glob"; a filter names exactly one dialect (exact, prefix, suffix, all, any, not, sql): put several in a list to have all of them match',
  ]);
});

test("a file that is not YAML, or holds no filters, says so", (t) => {
  t.throws(() => parseFilterFile("- exact: {type: [\n", "broken.yaml"), {
    instanceOf: UsageError,
    message: /^broken\.yaml is not valid YAML or JSON: /,
  });
  for (const empty of ["", "[]", "filters: []", "just text"]) {
    t.throws(
      () => parseFilterFile(empty, "empty.yaml"),
      { instanceOf: UsageError, message: /empty\.yaml holds no filters/ },
      empty,
    );
  }
});
