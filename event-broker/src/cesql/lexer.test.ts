import test from "ava";
import { LexError, tokenize } from "./lexer.js";

const kinds = (source: string) => tokenize(source).map((t) => t.kind);
const stringValue = (source: string) => {
  const [token] = tokenize(source);
  return token?.kind === "string" ? token.value : undefined;
};

test("lexer: two-character operators win over their one-character prefixes", (t) => {
  t.deepEqual(kinds("a<=b<>c!=d>=e<f>g=h"), [
    "word",
    "<=",
    "word",
    "<>",
    "word",
    "!=",
    "word",
    ">=",
    "word",
    "<",
    "word",
    ">",
    "word",
    "=",
    "word",
    "end",
  ]);
});

test("lexer: spaces, tabs, carriage returns and newlines separate tokens and are otherwise ignored", (t) => {
  t.deepEqual(kinds(" 1\t+\r\n2 "), ["integer", "+", "integer", "end"]);
});

test("lexer: a word of digits is an integer, digits with letters are a word (attribute names may start with a digit)", (t) => {
  t.deepEqual(kinds("123 123abc abc_def"), ["integer", "word", "word", "end"]);
});

test("lexer: a sign is its own token, for the parser to fold into a number or read as an operator", (t) => {
  t.deepEqual(kinds("-1+2"), ["-", "integer", "+", "integer", "end"]);
});

test("lexer: string literals decode an escaped or doubled delimiter and a doubled backslash", (t) => {
  t.is(stringValue(`'a\\'b'`), "a'b");
  t.is(stringValue(`"a\\"b"`), 'a"b');
  t.is(stringValue(`'a''b'`), "a'b");
  t.is(stringValue(`"a""b"`), 'a"b');
  t.is(stringValue(`'a\\\\b'`), "a\\b");
  t.is(stringValue(`'ab\\\\'`), "ab\\");
  t.is(stringValue(`'a"b'`), 'a"b');
  t.is(stringValue(`"a'b"`), "a'b");
  t.is(stringValue(`''`), "");
});

test("lexer: any other backslash stays in the string, so LIKE sees \\% and \\_ as written", (t) => {
  t.is(stringValue(`'a\\%b\\_c'`), "a\\%b\\_c");
  t.is(stringValue(`'a\\"b'`), 'a\\"b');
  t.is(stringValue(`'ab\\c'`), "ab\\c");
});

test("lexer: an unterminated string is an error at its opening quote", (t) => {
  for (const source of ["x = 'abc", "x = 'abc\\'", 'x = "a'] as const) {
    const error = t.throws(() => tokenize(source), { instanceOf: LexError });
    t.is(error?.offset, 4, source);
    t.regex(error?.detail ?? "", /no closing/);
  }
});

test("lexer: a character outside CESQL is an error at that character, and a lone ! says what to write", (t) => {
  const hash = t.throws(() => tokenize("a = #"), { instanceOf: LexError });
  t.is(hash?.offset, 4);
  t.regex(hash?.detail ?? "", /"#"/);
  const bang = t.throws(() => tokenize("a ! b"), { instanceOf: LexError });
  t.is(bang?.offset, 2);
  t.regex(bang?.detail ?? "", /!=/);
  const astral = t.throws(() => tokenize("a = 😀"), { instanceOf: LexError });
  t.regex(astral?.detail ?? "", /"😀"/);
});
