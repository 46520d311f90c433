import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import test from "ava";
import {
  checkImports,
  findCycles,
  importsOf,
  parseImportRules,
  sourceFiles,
  workspacePackages,
} from "./import-graph.js";

// dist/test/ → the repository root.
const root = fileURLToPath(new URL("../../../", import.meta.url));
const architecture = readFileSync(`${root}docs/ARCHITECTURE.md`, "utf8");

test("every import follows the rules in docs/ARCHITECTURE.md", (t) => {
  const rules = parseImportRules(architecture);
  const packages = workspacePackages(root);
  for (const folder of packages.values()) {
    t.true(rules.allowed.has(folder), `docs/ARCHITECTURE.md's imports block has a line for ${folder}`);
  }
  const files = sourceFiles(root, packages.values());
  t.true(files.size > 100, `the sources were found (${files.size} files)`);
  const problems = checkImports(importsOf(files), rules, packages);
  t.deepEqual(problems, [], problems.join("\n"));
});

test("no package has an import cycle among its modules", (t) => {
  const files = sourceFiles(root, workspacePackages(root).values());
  const cycles = findCycles(importsOf(files), new Set(files.keys()));
  t.deepEqual(cycles, [], cycles.map((c) => c.join(" → ")).join("\n"));
});

// The checks themselves, on made-up sources: each rule catches what it is for.
const rules = parseImportRules(
  [
    "```imports",
    "proto:",
    "client: proto",
    "cli: proto client",
    "cli/src/up: server-kit",
    "server-kit: proto",
    "kubernetes-driver: proto server-kit:type",
    "testkit: *",
    "lazy: cli/src/up",
    "lazy: cli/src/install/run.ts",
    "test-only: testkit",
    "```",
  ].join("\n"),
);
const names = new Map([
  ["@dispatch/proto", "proto"],
  ["@dispatch/client", "client"],
  ["@dispatch/cli", "cli"],
  ["@dispatch/server-kit", "server-kit"],
  ["@dispatch/kubernetes-driver", "kubernetes-driver"],
  ["@dispatch/testkit", "testkit"],
]);
const check = (files: Record<string, string>) =>
  checkImports(importsOf(new Map(Object.entries(files))), rules, names);

test("the check refuses an edge the rules do not list, and allows the listed ones", (t) => {
  t.deepEqual(check({ "client/src/a.ts": 'import { x } from "@dispatch/proto";\n' }), []);
  const problems = check({ "client/src/a.ts": 'import { startX } from "@dispatch/server-kit";\n' });
  t.is(problems.length, 1);
  t.regex(problems[0] ?? "", /client\/src\/a\.ts: imports server-kit .*client may import proto/);
});

test("the check sees dynamic imports and re-exports, and allows type-only edges only where marked", (t) => {
  t.is(check({ "proto/src/a.ts": 'const m = await import("@dispatch/client");\n' }).length, 1);
  t.is(check({ "proto/src/a.ts": 'export { y } from "@dispatch/client";\n' }).length, 1);
  t.deepEqual(
    check({ "kubernetes-driver/src/a.ts": 'import type { Driver } from "@dispatch/server-kit";\n' }),
    [],
  );
  t.deepEqual(
    check({ "kubernetes-driver/src/a.ts": 'import { type Driver } from "@dispatch/server-kit";\n' }),
    [],
  );
  t.is(check({ "kubernetes-driver/src/a.ts": 'import { Driver } from "@dispatch/server-kit";\n' }).length, 1);
});

test("the check keeps a folder's extra imports to that folder, and it lazy", (t) => {
  t.deepEqual(check({ "cli/src/up/up.ts": 'import { k } from "@dispatch/server-kit";\n' }), []);
  t.is(check({ "cli/src/main.ts": 'import { k } from "@dispatch/server-kit";\n' }).length, 1);
  t.deepEqual(check({ "cli/src/main.ts": 'const up = await import("./up/index.js");\n' }), []);
  const problems = check({ "cli/src/main.ts": 'import { up } from "./up/index.js";\n' });
  t.is(problems.length, 1);
  t.regex(problems[0] ?? "", /imports cli\/src\/up statically/);
  // One module: its neighbours may not import it statically either.
  t.is(check({ "cli/src/install/command.ts": 'import { run } from "./run.js";\n' }).length, 1);
  t.deepEqual(check({ "cli/src/install/command.ts": 'const { run } = await import("./run.js");\n' }), []);
});

test("the check keeps the testkit to tests and benches, and packages out of each other's files", (t) => {
  t.deepEqual(check({ "client/test/a.test.ts": 'import { startDispatch } from "@dispatch/testkit";\n' }), []);
  t.regex(
    check({ "client/src/a.ts": 'import { s } from "@dispatch/testkit";\n' })[0] ?? "",
    /only tests and benches/,
  );
  t.regex(
    check({ "cli/src/a.ts": 'import { p } from "../../proto/src/index.js";\n' })[0] ?? "",
    /reaches into proto/,
  );
  t.regex(
    check({ "cli/src/a.ts": 'import { p } from "@dispatch/proto/src/index.js";\n' })[0] ?? "",
    /reaches into/,
  );
});

test("the cycle finder finds a cycle through static imports and ignores type-only and dynamic ones", (t) => {
  const files = new Map([
    ["p/src/a.ts", 'import { b } from "./b.js";\n'],
    ["p/src/b.ts", 'import { c } from "./c.js";\n'],
    ["p/src/c.ts", 'import { a } from "./a.js";\n'],
    ["p/src/d.ts", 'import type { e } from "./e.js";\n'],
    ["p/src/e.ts", 'const d = await import("./d.js");\n'],
  ]);
  const cycles = findCycles(importsOf(files), new Set(files.keys()));
  t.deepEqual(cycles, [["p/src/a.ts", "p/src/b.ts", "p/src/c.ts", "p/src/a.ts"]]);
});
