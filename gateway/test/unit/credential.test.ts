import test from "ava";
import { credentialEquals } from "../../src/route-table/credential.js";

test("credentials: only the exact value matches, not a prefix, an extension, a case change or nothing", (t) => {
  const matches = credentialEquals("Bearer s3cret-token");
  t.true(matches("Bearer s3cret-token"));
  t.true(matches("Bearer s3cret-token"), "the same answer the second time");
  for (const other of [
    "Bearer s3cret-toke",
    "Bearer s3cret-token ",
    "Bearer s3cret-tokenX",
    "bearer s3cret-token",
    "Bearer S3CRET-TOKEN",
    "",
    "Bearer s3cret-töken",
  ]) {
    t.false(matches(other), JSON.stringify(other));
  }
});

test("credentials: values beyond latin1 are compared by their UTF-8 bytes", (t) => {
  t.true(credentialEquals("Bearer ключ-🔑")("Bearer ключ-🔑"));
  t.false(credentialEquals("Bearer ключ-🔑")("Bearer ключ-🔒"));
  t.false(credentialEquals("")("Bearer x"));
  t.true(credentialEquals("")(""));
});
