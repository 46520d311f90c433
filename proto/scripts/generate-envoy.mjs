// Generates protobuf-es v2 code for Envoy's v3 xDS API into proto/src/gen/envoy-api,
// from the protos shipped inside the npm package @grpc/grpc-js-xds. generate.mjs
// imports this module after it has emptied proto/src/gen.
//
// 1. Copy the protos (without the v2-era and test protos) into proto/.gen-work/envoy,
//    which is git-ignored; node_modules is never edited.
// 2. Patch that copy of validate/validate.proto: it is older than the Envoy protos,
//    which set fields it lacks (`ignore_empty`).
// 3. `buf generate` with proto/buf.gen.envoy.yaml for the files an xDS control plane
//    needs (GENERATE below), with their transitive imports.
// 4. Write proto/src/gen/envoy-api/files.ts, the list of every generated file, which
//    proto/src/envoy.ts turns into the registry used to pack and unpack
//    google.protobuf.Any by type URL.
import { execFileSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const binDir = resolve(root, "node_modules/.bin");
const deps = resolve(root, "node_modules/@grpc/grpc-js-xds/deps");
const work = resolve(root, "proto/.gen-work/envoy");
const out = resolve(root, "proto/src/gen/envoy-api");

// What an xDS control plane serves or embeds: the ADS and per-type discovery
// services, the four resource kinds, and the filters and transport sockets that
// the translator puts into them. Directories or files, relative to the proto roots.
const GENERATE = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/discovery/v3/discovery.proto",
  "envoy/service/cluster/v3",
  "envoy/service/endpoint/v3",
  "envoy/service/listener/v3",
  "envoy/service/route/v3",
  "envoy/config/cluster/v3",
  "envoy/config/core/v3",
  "envoy/config/endpoint/v3",
  "envoy/config/listener/v3",
  "envoy/config/route/v3",
  "envoy/extensions/filters/network/http_connection_manager/v3",
  "envoy/extensions/filters/http/router/v3",
  "envoy/extensions/filters/http/cors/v3",
  "envoy/extensions/filters/http/jwt_authn/v3",
  "envoy/extensions/filters/http/local_ratelimit/v3",
  "envoy/extensions/transport_sockets/tls/v3",
];

// Proto roots inside @grpc/grpc-js-xds/deps, copied into one tree. Only these top-level
// directories are taken: protoc-gen-validate also ships java/ and tests/.
const ROOTS = [
  { from: "envoy-api", dirs: ["envoy"] },
  { from: "xds", dirs: ["xds", "udpa"] },
  { from: "googleapis", dirs: ["google"] },
  { from: "protoc-gen-validate", dirs: ["validate"] },
];

// Envoy's v2 API (v2, v2alpha, v2alpha1, …) is deprecated and not served.
const isExcluded = (name) => /^v2/.test(name) || name === "test" || name === "tests";

// Fields that Envoy's protos set but the validate.proto shipped next to them lacks:
// protoc-gen-validate added `ignore_empty` to these rule messages after that copy
// was taken. Numbers are upstream's (envoyproxy/protoc-gen-validate validate.proto),
// so the generated descriptors keep the same wire format.
const VALIDATE_FIELDS = [
  ...[
    "FloatRules",
    "DoubleRules",
    "Int32Rules",
    "Int64Rules",
    "UInt32Rules",
    "UInt64Rules",
    "SInt32Rules",
    "SInt64Rules",
    "Fixed32Rules",
    "Fixed64Rules",
    "SFixed32Rules",
    "SFixed64Rules",
  ].map((message) => ({ message, name: "ignore_empty", number: 8 })),
  { message: "StringRules", name: "ignore_empty", number: 26 },
  { message: "BytesRules", name: "ignore_empty", number: 14 },
  { message: "RepeatedRules", name: "ignore_empty", number: 5 },
  { message: "MapRules", name: "ignore_empty", number: 6 },
];

function run(cmd, args) {
  execFileSync(resolve(binDir, cmd), args, {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, PATH: `${binDir}:${process.env.PATH}` },
  });
}

function copyProtos() {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  for (const { from, dirs } of ROOTS) {
    for (const dir of dirs) {
      cpSync(resolve(deps, from, dir), resolve(work, dir), {
        recursive: true,
        filter: (src) =>
          !relative(deps, src).split(sep).some(isExcluded) &&
          (src.endsWith(".proto") || statSync(src).isDirectory()),
      });
    }
  }
  // A module of its own: the repository's buf.yaml excludes proto/.gen-work.
  writeFileSync(resolve(work, "buf.yaml"), "version: v2\n");
}

/** Adds each missing field before the closing brace of its message; fails loudly if a message moved. */
function patchValidateProto() {
  const file = resolve(work, "validate/validate.proto");
  let text = readFileSync(file, "utf8");
  for (const { message, name, number } of VALIDATE_FIELDS) {
    const start = text.indexOf(`message ${message} {`);
    if (start < 0) throw new Error(`validate.proto: message ${message} not found`);
    const end = closingBrace(text, start);
    const body = text.slice(start, end);
    if (new RegExp(`\\b${name}\\s*=`).test(body)) continue;
    if (new RegExp(`=\\s*${number}\\b`).test(body)) {
      throw new Error(`validate.proto: ${message} already uses field number ${number}`);
    }
    const field =
      "\n    // IgnoreEmpty specifies that the validation rules of this field should be\n" +
      "    // evaluated only if the field is not empty. (Added by proto/scripts/generate-envoy.mjs:\n" +
      "    // the copy shipped in @grpc/grpc-js-xds predates it.)\n" +
      `    optional bool ${name} = ${number};\n`;
    text = text.slice(0, end) + field + text.slice(end);
  }
  writeFileSync(file, text);
}

function closingBrace(text, from) {
  let depth = 0;
  for (let i = text.indexOf("{", from); i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return i;
  }
  throw new Error("validate.proto: unbalanced braces");
}

function generate() {
  rmSync(out, { recursive: true, force: true });
  const paths = GENERATE.filter((path) => existsSync(resolve(work, path)));
  const args = ["generate", relative(root, work), "--template", "proto/buf.gen.envoy.yaml"];
  for (const path of paths) args.push("--path", relative(root, resolve(work, path)));
  run("buf", args);
}

function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith("_pb.ts"))
    .map((entry) => relative(out, resolve(entry.parentPath, entry.name)).split(sep).join("/"))
    .sort();
}

/** Writes files.ts: every generated file descriptor, in a stable order. */
function writeFileIndex() {
  const imports = [];
  const names = [];
  for (const path of listFiles(out)) {
    const source = readFileSync(resolve(out, path), "utf8");
    const match = /^export const (file_\w+): GenFile/m.exec(source);
    if (!match) throw new Error(`${path}: no file descriptor export`);
    imports.push(`import { ${match[1]} } from "./${path.replace(/\.ts$/, ".js")}";`);
    names.push(`  ${match[1]},`);
  }
  const text = [
    "// @generated by proto/scripts/generate-envoy.mjs. DO NOT EDIT.",
    "/* eslint-disable */",
    "",
    'import type { GenFile } from "@bufbuild/protobuf/codegenv2";',
    ...imports,
    "",
    "/**",
    " * Every file generated from Envoy's protos and their imports (xds, udpa, validate,",
    " * google/api, google/rpc), sorted by path. The well-known types are not listed:",
    " * they come from @bufbuild/protobuf/wkt.",
    " */",
    "export const envoyFiles: readonly GenFile[] = [",
    ...names,
    "];",
    "",
  ].join("\n");
  writeFileSync(resolve(out, "files.ts"), text);
}

copyProtos();
patchValidateProto();
generate();
writeFileIndex();
