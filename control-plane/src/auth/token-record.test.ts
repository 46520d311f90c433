import { randomBytes } from "node:crypto";
import test from "ava";
import {
  hashTokenSecret,
  readTokenRecord,
  signTokenRecord,
  type TokenFields,
  tokenSigningKey,
} from "./token-record.js";

const key = tokenSigningKey(randomBytes(32));
const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
const fields = (overrides: Partial<TokenFields>): TokenFields => ({
  name: "xds",
  org: "",
  orgUid: "",
  role: "component",
  sha256: hashTokenSecret("dsp_secret"),
  created: new Date(0).toISOString(),
  ...overrides,
});

test("a signed component record is read back with its role", (t) => {
  const read = readTokenRecord(key, "xds", encode(signTokenRecord(key, fields({}))));
  t.true(read.ok);
  t.is(read.ok ? read.record.role : undefined, "component");
});

test("the role is signed: a member record turned into a component (or admin) does not verify", (t) => {
  const member = signTokenRecord(key, fields({ role: "member", org: "acme", orgUid: "1234-abcd" }));
  for (const role of ["component", "admin"]) {
    const read = readTokenRecord(key, "xds", encode({ ...member, role, org: "", orgUid: "" }));
    t.false(read.ok, role);
    t.is(read.ok ? undefined : read.problem.kind, "forged", role);
  }
});

test("a component record that names an org, or a role that does not exist, is invalid", (t) => {
  const withOrg = readTokenRecord(
    key,
    "xds",
    encode(signTokenRecord(key, fields({ org: "acme", orgUid: "1234-abcd" }))),
  );
  t.deepEqual(withOrg, {
    ok: false,
    problem: { kind: "invalid", message: "a component token names an org" },
  });
  const root = readTokenRecord(key, "xds", encode({ ...signTokenRecord(key, fields({})), role: "root" }));
  t.deepEqual(root, {
    ok: false,
    problem: { kind: "invalid", message: 'its role "root" is not admin, member or component' },
  });
});
