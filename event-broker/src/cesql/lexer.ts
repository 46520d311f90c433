/**
 * Splits a CESQL expression into tokens (§2; the lexer grammar `CESQLLexer.g4`).
 *
 * Words (`[A-Za-z0-9_]+`) are one token kind: whether a word is a keyword, an attribute or a function name
 * depends on where it stands, which the parser decides. A word of digits only is an integer literal; its
 * sign, if any, is a separate `+`/`-` token the parser folds in.
 */

/** What a token is. Operators and punctuation are their own text. */
export type TokenKind =
  | "("
  | ")"
  | ","
  | "+"
  | "-"
  | "*"
  | "/"
  | "%"
  | "="
  | "!="
  | "<>"
  | "<"
  | "<="
  | ">"
  | ">="
  | "integer"
  | "string"
  | "word"
  | "end";

/** A token and where it starts; `text` is the source text, `value` a string literal's decoded value. */
export interface Token {
  readonly kind: TokenKind;
  readonly offset: number;
  readonly text: string;
  readonly value?: string;
}

/** A lexical error, turned into a CesqlParseError by the parser. */
export class LexError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(detail);
  }
}

const twoCharOperators = new Set(["!=", "<>", "<=", ">="]);
const oneCharTokens = new Set(["(", ")", ",", "+", "-", "*", "/", "%", "=", "<", ">"]);

/** The tokens of `source`, ending with an `end` token; throws `LexError` on a character CESQL does not have. */
export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source.charAt(i);
    if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n") {
      i++;
      continue;
    }
    const pair = source.slice(i, i + 2);
    if (twoCharOperators.has(pair)) {
      tokens.push({ kind: pair as TokenKind, offset: i, text: pair });
      i += 2;
      continue;
    }
    if (oneCharTokens.has(ch)) {
      tokens.push({ kind: ch as TokenKind, offset: i, text: ch });
      i++;
      continue;
    }
    if (ch === "'" || ch === '"') {
      const token = readString(source, i);
      tokens.push(token);
      i += token.text.length;
      continue;
    }
    if (isWordChar(ch)) {
      let end = i + 1;
      while (end < source.length && isWordChar(source.charAt(end))) end++;
      const text = source.slice(i, end);
      tokens.push({ kind: /^[0-9]+$/.test(text) ? "integer" : "word", offset: i, text });
      i = end;
      continue;
    }
    if (ch === "!")
      throw new LexError(i, 'found "!" alone: write "!=" (or "<>") for not-equal, NOT to negate');
    const shown = String.fromCodePoint(source.codePointAt(i) ?? 0);
    throw new LexError(i, `found ${JSON.stringify(shown)}, which is not part of CESQL`);
  }
  tokens.push({ kind: "end", offset: source.length, text: "" });
  return tokens;
}

function isWordChar(ch: string): boolean {
  return (ch >= "a" && ch <= "z") || (ch >= "A" && ch <= "Z") || (ch >= "0" && ch <= "9") || ch === "_";
}

/**
 * A string literal starting at `start`. Inside `'…'`, `\'` and `''` stand for `'` (and inside `"…"`, `\"` and
 * `""` for `"`); `\\` stands for one backslash. Any other backslash is kept as written, so `LIKE` still sees
 * the escapes of its own (`\%`, `\_`), as the spec's examples (`'abc\%'`) require.
 */
function readString(source: string, start: number): Token {
  const quote = source.charAt(start);
  let value = "";
  let i = start + 1;
  for (;;) {
    if (i >= source.length) {
      throw new LexError(start, `the string starting here has no closing ${quote}`);
    }
    const ch = source.charAt(i);
    if (ch === "\\") {
      const next = source.charAt(i + 1);
      if (next === quote || next === "\\") value += next;
      else if (next === "") value += ch;
      else value += ch + next;
      i += next === "" ? 1 : 2;
      continue;
    }
    if (ch === quote) {
      if (source.charAt(i + 1) === quote) {
        value += quote;
        i += 2;
        continue;
      }
      return { kind: "string", offset: start, text: source.slice(start, i + 1), value };
    }
    value += ch;
    i++;
  }
}
