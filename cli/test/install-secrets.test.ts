import test from "ava";
import { parseAllDocuments } from "yaml";
import { generatedSecrets, secretWithValues } from "../src/install/generated-secrets.js";
import { loadInstallConfig } from "../src/install/load-config.js";
import { createRenderContext } from "../src/install/render-context.js";
import { recordingIo } from "../src/testing.js";

// A random source whose every byte is the same marker: any generated value is
// made of it, in whatever encoding, so finding none of its encodings in the
// output means no generated value was printed.
const marker = 0xa7;
const markerRandom = (size: number) => new Uint8Array(size).fill(marker);
const encodings = (size: number) => {
  const bytes = Buffer.from(markerRandom(size));
  return [bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("hex")].map((s) =>
    s.slice(0, 16),
  );
};

for (const output of ["yaml", "json"] as const) {
  test(`install --dry-run -o ${output} prints no secret value, and never reaches for a cluster`, async (t) => {
    // The commands' module, loaded as they load it (docs/ARCHITECTURE.md: lazy).
    const { runInstall } = await import("../src/install/run.js");
    const io = recordingIo();
    await runInstall(
      { dryRun: true, output, timeoutMs: 1000 },
      {
        io,
        defaultTag: "0.1.0",
        random: markerRandom,
        connect: async () => {
          throw new Error("a dry run must not connect to a cluster");
        },
      },
    );
    const printed = io.out + io.err;
    t.true(io.out.length > 10_000, "the manifests were printed");
    for (const encoded of encodings(32)) t.false(printed.includes(encoded), encoded);
    const objects =
      output === "json"
        ? (JSON.parse(io.out) as { items: { kind: string }[] }).items
        : parseAllDocuments(io.out).map((d) => d.toJS() as { kind: string });
    t.false(
      objects.some((o) => o.kind === "Secret"),
      "no Secret object: generated Secrets are only named (and created on apply)",
    );
    t.false(/"?stringData"?:/.test(io.out));
    // The pods refer to the generated Secrets by name.
    t.regex(io.out, /secretName: dispatch-control-plane|"secretName": "dispatch-control-plane"/);
    t.regex(io.out, /name: dispatch-nats\n\s+key: password|"name": "dispatch-nats",\n\s+"key": "password"/);
  });
}

test("the marker check is not vacuous: a Secret install creates holds the marker's encodings", (t) => {
  const ctx = createRenderContext(loadInstallConfig({ defaultTag: "0.1.0" }));
  const values = generatedSecrets()
    .map((secret) => JSON.stringify(secretWithValues(ctx, secret, markerRandom)))
    .join("\n");
  for (const encoded of encodings(32)) t.true(values.includes(encoded), encoded);
});

test("generated values: a 32-byte key in base64, a URL-safe admin token of 43 characters, a hex NATS password", (t) => {
  const ctx = createRenderContext(loadInstallConfig({ defaultTag: "0.1.0" }));
  let n = 0;
  const counting = (size: number) => Uint8Array.from({ length: size }, () => n++ % 256);
  const [controlPlane, nats] = generatedSecrets().map(
    (s) => secretWithValues(ctx, s, counting).stringData ?? {},
  );
  t.is(Buffer.from(controlPlane?.["secret-key"] ?? "", "base64").length, 32);
  t.regex(controlPlane?.["admin-token"] ?? "", /^[A-Za-z0-9_-]{43}$/);
  t.not(controlPlane?.["secret-key"], controlPlane?.["admin-token"]);
  t.is(nats?.user, "dispatch");
  t.regex(nats?.password ?? "", /^[0-9a-f]{64}$/);
});
