import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { SecretService, SystemService } from "@dispatch/proto";
import { v1, v1alpha } from "@dispatch/proto/reflection";
import { startDispatch, type TestDispatch } from "@dispatch/testkit";
import anyTest, { type TestFn } from "ava";
import { client, transports } from "./helpers.js";

const test = anyTest as TestFn<{ dispatch: TestDispatch }>;

test.before(async (t) => {
  t.context.dispatch = await startDispatch();
});
test.after.always(async (t) => {
  await t.context.dispatch?.stop();
});

test("one port serves Connect (binary and JSON), gRPC over h2c and gRPC-Web", async (t) => {
  const { url, token } = t.context.dispatch;
  const all = transports(url, token);
  await client(SecretService, url, token, all.connect).create({
    secret: { meta: { name: "multi" }, spec: { data: { k: "v" } } },
  });
  for (const [name, transport] of Object.entries(all)) {
    const got = await createClient(SecretService, transport).get({ name: "multi" });
    t.deepEqual(got.secret?.keys, ["k"], name);
  }
});

test("a plain HTTP POST of Connect JSON works with the token, and /healthz without", async (t) => {
  const { url, token } = t.context.dispatch;
  const response = await fetch(`${url}/dispatch.v1.SystemService/GetStatus`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: "{}",
  });
  t.is(response.status, 200);
  const body = (await response.json()) as { urls: Record<string, string> };
  t.is(body.urls.api, url);
  t.truthy(body.urls.nats);

  const denied = await fetch(`${url}/dispatch.v1.SystemService/GetStatus`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });
  t.is(denied.status, 401);
  t.is(((await denied.json()) as { code: string }).code, "unauthenticated");

  const health = await fetch(`${url}/healthz`);
  t.is(health.status, 200);
});

test("gRPC reflection (v1 and v1alpha) lists the services and serves their files", async (t) => {
  const { url, token } = t.context.dispatch;
  const grpc = transports(url, token).grpc;
  for (const service of [v1.ServerReflection, v1alpha.ServerReflection]) {
    const reflection = createClient(service as typeof v1.ServerReflection, grpc);
    async function* requests() {
      yield { messageRequest: { case: "listServices" as const, value: "*" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "dispatch.v1.SecretService" } };
      yield {
        messageRequest: { case: "fileContainingSymbol" as const, value: "dispatch.v1.SecretService.Get" },
      };
      yield { messageRequest: { case: "fileByFilename" as const, value: "dispatch/v1/meta.proto" } };
      yield { messageRequest: { case: "fileContainingSymbol" as const, value: "no.Such" } };
    }
    const answers = [];
    for await (const answer of reflection.serverReflectionInfo(requests()))
      answers.push(answer.messageResponse);
    t.is(answers.length, 5);
    const list = answers[0];
    t.is(list?.case, "listServicesResponse");
    const names = list?.case === "listServicesResponse" ? list.value.service.map((s) => s.name) : [];
    for (const expected of [
      "dispatch.v1.SecretService",
      "dispatch.v1.FunctionService",
      "grpc.reflection.v1.ServerReflection",
    ]) {
      t.true(names.includes(expected), expected);
    }
    for (const i of [1, 2]) {
      const files = answers[i];
      t.is(files?.case, "fileDescriptorResponse");
      const decoded =
        files?.case === "fileDescriptorResponse"
          ? files.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name)
          : [];
      t.is(decoded[0], "dispatch/v1/secret.proto");
      t.true(decoded.includes("dispatch/v1/meta.proto"), "dependencies come along");
    }
    t.is(answers[3]?.case, "fileDescriptorResponse");
    t.is(answers[4]?.case, "errorResponse");
  }
});

test("version and status describe the installation", async (t) => {
  const { url, token } = t.context.dispatch;
  const system = client(SystemService, url, token);
  t.truthy((await system.getVersion({})).version);
  const status = await system.getStatus({});
  t.deepEqual(Object.keys(status.urls).sort(), ["activator", "api", "driver", "isolation", "nats"]);
  t.is(status.urls.driver, "local");
  t.true(status.components.every((c) => c.healthy));
});

test("buf curl (an independent gRPC client) discovers and calls the API through reflection", async (t) => {
  const { url, token } = t.context.dispatch;
  const { execFile } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const { tmpdir } = await import("node:os");
  const buf = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));
  const header = `authorization: Bearer ${token}`;
  const curl = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      // Run outside the repo so buf does not read the workspace's buf.yaml.
      execFile(
        buf,
        [
          "curl",
          "--protocol",
          "grpc",
          "--http2-prior-knowledge",
          "-H",
          header,
          "--reflect-header",
          header,
          ...args,
        ],
        { cwd: tmpdir() },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
  const services = (await curl(["--list-services", url])).trim().split("\n");
  t.true(services.includes("dispatch.v1.SecretService"));
  t.true(services.includes("dispatch.v1.OrganizationService"));
  const orgs = JSON.parse(await curl(["-d", "{}", `${url}/dispatch.v1.OrganizationService/List`]));
  t.true(orgs.items.some((o: { meta: { name: string } }) => o.meta.name === "default"));
});
