import test from "ava";
import { isJsonMediaType, mediaType } from "../src/media-types.js";

test("mediaType and isJsonMediaType: case-insensitive, parameters ignored", (t) => {
  t.is(mediaType(" Application/JSON ; charset=utf-8"), "application/json");
  for (const type of [
    "application/json",
    "Application/JSON; charset=utf-8",
    "text/json",
    "application/ld+json",
  ]) {
    t.true(isJsonMediaType(type), type);
  }
  for (const type of [
    "",
    "text/plain",
    "application/octet-stream",
    "application/jsonx",
    "application/json+xml",
  ]) {
    t.false(isJsonMediaType(type), type);
  }
});
