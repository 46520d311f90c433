import { randomBytes } from "node:crypto";
import type { RevisionSpec } from "@dispatch/server-kit";
import test from "ava";
import { createInstanceCredentials } from "./instance-credentials.js";

const revision: RevisionSpec = {
  org: "acme",
  name: "hello",
  uid: "6f1c2f4e-0000-4000-8000-000000000001",
  generation: 7n,
  runtime: "nodejs",
  bundle: { digest: `sha256:${"ab".repeat(32)}`, format: "tar.gz", filename: "" },
  handler: "hello.js",
  env: {},
  timeoutMs: 30_000,
  memory: "",
  cpu: "",
};

test("a credential says what it was issued for, and each one is new", (t) => {
  const credentials = createInstanceCredentials(randomBytes(32));
  const first = credentials.issue(revision);
  t.not(credentials.issue(revision), first, "a nonce of its own");
  t.deepEqual(credentials.verify(first), {
    org: "acme",
    function: "hello",
    uid: revision.uid,
    generation: 7n,
    digest: revision.bundle.digest,
  });
});

test("what another key signed, a changed claim, a bad signature or garbage is not a credential", (t) => {
  const credentials = createInstanceCredentials(randomBytes(32));
  const token = credentials.issue(revision);
  t.is(createInstanceCredentials(randomBytes(32)).verify(token), undefined, "another installation's");
  const [head, body, mac] = token.split(".");
  const claims = JSON.parse(Buffer.from(body ?? "", "base64url").toString("utf8"));
  const changed = Buffer.from(JSON.stringify({ ...claims, d: `sha256:${"cd".repeat(32)}` })).toString(
    "base64url",
  );
  t.is(credentials.verify(`${head}.${changed}.${mac}`), undefined, "another digest under the same signature");
  t.is(credentials.verify(`${head}.${body}.${"A".repeat(43)}`), undefined);
  t.is(credentials.verify(`${head}.${body}`), undefined);
  t.is(credentials.verify(`${token}.extra`), undefined);
  t.is(credentials.verify("an admin token, say"), undefined);
  t.is(credentials.verify(`${token}${"x".repeat(4096)}`), undefined, "too long to be one");
});
