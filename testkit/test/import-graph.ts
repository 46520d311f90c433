/**
 * The project's import graph, read from the TypeScript sources, and the
 * checks that hold it to the rules in docs/ARCHITECTURE.md: which package may
 * import which, who may import the testkit, what must be loaded lazily, no
 * reaching into another package's files, and no cycles.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

/** One import in one file. */
export interface ImportEdge {
  /** The importing file, relative to the repository root, with `/`. */
  from: string;
  specifier: string;
  /** `import type` / `export type`: gone at run time. */
  typeOnly: boolean;
  /** `import("…")`: loaded when the code runs, not when the module loads. */
  dynamic: boolean;
}

/** The rules, as the ```imports block of docs/ARCHITECTURE.md states them. */
export interface ImportRules {
  /** Package folder → the packages of ours it may import (`*`: any); `name:type` allows type-only imports. */
  allowed: Map<string, Set<string>>;
  /** Folder (`cli/src/up`) → what it may import besides its package's list. */
  folders: Map<string, Set<string>>;
  /** Folders, or modules (`x.ts`), that code outside them may import only with `import()`. */
  lazy: string[];
  /** Packages that only tests and benches may import. */
  testOnly: Set<string>;
}

/**
 * Reads the rules from a fenced block tagged `imports`:
 *
 * ```
 * client: proto
 * cli/src/up: control-plane server-kit     (a folder: what it may add)
 * kubernetes-driver: proto control-plane:type
 * testkit: *
 * lazy: cli/src/up
 * test-only: testkit
 * ```
 */
export function parseImportRules(markdown: string): ImportRules {
  const block = /```imports\n([\s\S]*?)```/.exec(markdown)?.[1];
  if (block === undefined)
    throw new Error("no ```imports block: the rules must be written down to be checked");
  const rules: ImportRules = { allowed: new Map(), folders: new Map(), lazy: [], testOnly: new Set() };
  for (const raw of block.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon < 0) throw new Error(`imports block: "${line}" is not "name: packages"`);
    const name = line.slice(0, colon).trim();
    const values = line
      .slice(colon + 1)
      .split(/\s+/)
      .filter((v) => v !== "");
    if (name === "lazy") rules.lazy.push(...values);
    else if (name === "test-only") for (const v of values) rules.testOnly.add(v);
    else if (name.includes("/")) rules.folders.set(name, new Set(values));
    else rules.allowed.set(name, new Set(values));
  }
  return rules;
}

/** Every import of every `.ts` file in `files` (path relative to `root` → source). */
export function importsOf(files: Map<string, string>): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const [from, text] of files) {
    const source = ts.createSourceFile(from, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const visit = (node: ts.Node): void => {
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        const typeOnly = ts.isImportDeclaration(node)
          ? (node.importClause?.isTypeOnly ?? false) || allNamedImportsAreTypes(node)
          : node.isTypeOnly;
        edges.push({ from, specifier: node.moduleSpecifier.text, typeOnly, dynamic: false });
      } else if (
        ts.isCallExpression(node) &&
        node.expression.kind === ts.SyntaxKind.ImportKeyword &&
        node.arguments[0] !== undefined &&
        ts.isStringLiteralLike(node.arguments[0])
      ) {
        edges.push({ from, specifier: node.arguments[0].text, typeOnly: false, dynamic: true });
      } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
        const literal = node.argument.literal;
        if (ts.isStringLiteral(literal))
          edges.push({ from, specifier: literal.text, typeOnly: true, dynamic: false });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return edges;
}

/** `import { type A, type B } from "x"`: nothing of it exists at run time. */
function allNamedImportsAreTypes(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause || clause.name) return false;
  const bindings = clause.namedBindings;
  return (
    bindings !== undefined &&
    ts.isNamedImports(bindings) &&
    bindings.elements.length > 0 &&
    bindings.elements.every((e) => e.isTypeOnly)
  );
}

/** The package folder a file belongs to (`control-plane/src/x.ts` → `control-plane`). */
export function packageOf(file: string): string {
  return file.split("/")[0] ?? file;
}

/** Whether a file is a test or a bench (which may import the testkit). */
export function isTestOrBench(file: string): boolean {
  return file.startsWith("bench/") || /\.test\.ts$/.test(file) || file.split("/")[1] === "test";
}

/**
 * Every broken rule, one line each, naming the file, the import and the rule.
 * `packages` maps `@dispatch/name` to its folder.
 */
export function checkImports(
  edges: ImportEdge[],
  rules: ImportRules,
  packages: Map<string, string>,
): string[] {
  const problems: string[] = [];
  for (const edge of edges) {
    const pkg = packageOf(edge.from);
    const target = targetPackage(edge, packages);
    if (target === undefined || target === pkg) {
      // A package's tests may go through its own exports, as users do; its code may not.
      if (target === pkg && edge.specifier.startsWith("@dispatch/") && !isTestOrBench(edge.from)) {
        problems.push(
          `${edge.from}: imports its own package by name ("${edge.specifier}"); use a relative path`,
        );
      }
      continue;
    }
    if (edge.specifier.startsWith(".")) {
      problems.push(
        `${edge.from}: "${edge.specifier}" reaches into ${target}/ by path; import "@dispatch/…" through its exports`,
      );
      continue;
    }
    if (/^@dispatch\/[^/]+\/(src|dist)\//.test(edge.specifier)) {
      problems.push(
        `${edge.from}: "${edge.specifier}" reaches into another package's files; use its exports`,
      );
    }
    if (rules.testOnly.has(target)) {
      if (!isTestOrBench(edge.from)) {
        problems.push(`${edge.from}: imports ${target}, which only tests and benches may import`);
      }
      continue;
    }
    if (!mayImport(edge, pkg, target, rules)) {
      const allowed = [...(rules.allowed.get(pkg) ?? [])].join(", ") || "nothing of ours";
      problems.push(`${edge.from}: imports ${target} ("${edge.specifier}"); ${pkg} may import ${allowed}`);
    }
  }
  for (const lazy of rules.lazy) {
    // A folder or one module (named with .ts); code inside it may import it as it likes.
    const stem = lazy.replace(/\.ts$/, "");
    const inside = (file: string) => file.replace(/\.(js|ts)$/, "") === stem || file.startsWith(`${stem}/`);
    for (const edge of edges) {
      if (edge.dynamic || edge.typeOnly || inside(edge.from) || !edge.specifier.startsWith(".")) continue;
      const resolved = join(dirname(edge.from), edge.specifier).split(sep).join("/");
      if (inside(resolved)) {
        problems.push(
          `${edge.from}: imports ${lazy} statically ("${edge.specifier}"); it must be loaded with import()`,
        );
      }
    }
  }
  return problems;
}

function mayImport(edge: ImportEdge, pkg: string, target: string, rules: ImportRules): boolean {
  const lists = [rules.allowed.get(pkg) ?? new Set<string>()];
  for (const [folder, extra] of rules.folders) if (edge.from.startsWith(`${folder}/`)) lists.push(extra);
  return lists.some(
    (list) => list.has("*") || list.has(target) || (edge.typeOnly && list.has(`${target}:type`)),
  );
}

/** The package folder an import lands in, or undefined for one outside the project (npm, node:). */
function targetPackage(edge: ImportEdge, packages: Map<string, string>): string | undefined {
  if (edge.specifier.startsWith(".")) {
    return packageOf(join(dirname(edge.from), edge.specifier).split(sep).join("/"));
  }
  const name = /^@dispatch\/[^/]+/.exec(edge.specifier)?.[0];
  return name === undefined ? undefined : (packages.get(name) ?? name);
}

/**
 * Cycles among a package's modules through imports that run when a module
 * loads (static, not type-only), each as the list of files around it.
 */
export function findCycles(edges: ImportEdge[], files: Set<string>): string[][] {
  const graph = new Map<string, string[]>();
  for (const edge of edges) {
    if (edge.typeOnly || edge.dynamic || !edge.specifier.startsWith(".")) continue;
    const target = resolveModule(edge.from, edge.specifier, files);
    if (target === undefined) continue;
    graph.set(edge.from, [...(graph.get(edge.from) ?? []), target]);
  }
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return cycles;
}

/** `./x.js` from `a/b.ts` → `a/x.ts` (or `a/x/index.ts`) when that file exists. */
function resolveModule(from: string, specifier: string, files: Set<string>): string | undefined {
  const base = join(dirname(from), specifier).split(sep).join("/");
  const stem = base.replace(/\.(js|ts|mjs)$/, "");
  for (const candidate of [`${stem}.ts`, `${stem}/index.ts`]) if (files.has(candidate)) return candidate;
  return undefined;
}

/** The workspace packages: folder and `@dispatch/…` name, from the root package.json. */
export function workspacePackages(root: string): Map<string, string> {
  const { workspaces } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
    workspaces: string[];
  };
  const packages = new Map<string, string>();
  for (const folder of workspaces) {
    const { name } = JSON.parse(readFileSync(join(root, folder, "package.json"), "utf8")) as { name: string };
    packages.set(name, folder);
  }
  return packages;
}

/** Every `.ts` source of the packages (src/, test/), relative to root, with its text. */
export function sourceFiles(root: string, folders: Iterable<string>): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir)) {
      if (entry === "node_modules" || entry === "dist" || entry.startsWith(".")) continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith(".ts") && !entry.endsWith(".d.ts")) {
        files.set(relative(root, path).split(sep).join("/"), readFileSync(path, "utf8"));
      }
    }
  };
  for (const folder of folders) {
    for (const sub of ["src", "test"]) {
      const dir = resolve(root, folder, sub);
      if (statSync(dir, { throwIfNoEntry: false })?.isDirectory()) walk(dir);
    }
  }
  return files;
}
