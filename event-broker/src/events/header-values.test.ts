import test from "ava";
import { decodeHeaderValueStrict, encodeHeaderValue } from "./header-values.js";

const decoded: [string, string, string][] = [
  ["a value without escapes", "com.example.created", "com.example.created"],
  ["the spec's example (HTTP binding §3.1.3.2)", "Euro%20%E2%82%AC%20%F0%9F%98%80", "Euro € 😀"],
  ["lower-case hex", "Euro%20%e2%82%ac%20%f0%9f%98%80", "Euro € 😀"],
  ["a quoted-string, unquoted first", '"Euro%20%E2%82%AC"', "Euro €"],
  ["a quoted-string's backslash escapes", '"a\\"b\\\\c"', 'a"b\\c'],
  ["an empty quoted-string", '""', ""],
  ["a lone double quote", '"', '"'],
  ["%25, decoded once", "100%25", "100%"],
  ["%2525, decoded once only", "%2525", "%25"],
  ["an escaped control character (eventProblems refuses it later)", "a%0Ab", "a\nb"],
  ["a raw space (some SDKs do not encode it)", "a b", "a b"],
  ["the empty value", "", ""],
];

for (const [name, raw, value] of decoded) {
  test(`decodeHeaderValueStrict: ${name}`, (t) => {
    t.is(decodeHeaderValueStrict(raw), value);
  });
}

const unreadable: [string, string][] = [
  ["an overlong form (%C0%A0)", "%C0%A0"],
  ["a lone %", "%"],
  ["a % at the end", "100%"],
  ["a % with one hex digit", "%4"],
  ["a % with no hex digits", "%ZZ"],
  ["a truncated UTF-8 sequence", "%E2%82"],
  ["a continuation byte alone", "%80"],
  ["a byte UTF-8 never has", "%FF"],
  ["an encoded surrogate", "%ED%A0%80"],
  ["a code point above U+10FFFF", "%F4%90%80%80"],
  ["a bad escape inside a quoted-string", '"%C0%A0"'],
  ["a raw non-ASCII character (Node reads header bytes as Latin-1)", "Ã©"],
  ["a raw non-ASCII character beside an escape", "é%20"],
];

for (const [name, raw] of unreadable) {
  test(`decodeHeaderValueStrict: ${name} is not valid percent-encoded UTF-8`, (t) => {
    t.is(decodeHeaderValueStrict(raw), undefined);
  });
}

test("encodeHeaderValue then decodeHeaderValueStrict gives every value back", (t) => {
  const values = [
    "",
    "plain",
    "Euro € 😀",
    "100%",
    "%25",
    '"quoted"',
    "a\\b",
    " lead",
    "trail ",
    "\t",
    "ÿ",
    "中文",
  ];
  for (const value of values) {
    const encoded = encodeHeaderValue(value);
    t.regex(encoded, /^[\x21-\x7e]*$/, JSON.stringify(value));
    t.is(decodeHeaderValueStrict(encoded), value, JSON.stringify(value));
  }
});
