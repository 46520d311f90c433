import test from "ava";
import { compileLikePattern, matchLike } from "./like.js";

function like(text: string, pattern: string): boolean {
  return matchLike(compileLikePattern(pattern), text, () => {});
}

test("LIKE: % matches any run of characters, including none", (t) => {
  t.true(like("abc", "a%c"));
  t.true(like("ac", "a%c"));
  t.true(like("", "%"));
  t.true(like("anything", "%"));
  t.true(like("abc", "%%%"));
  t.false(like("ab", "a%c"));
  t.true(like("a.b.c", "%.%.%"));
  t.false(like("abc", "%.%"));
});

test("LIKE: _ matches exactly one character", (t) => {
  t.true(like("abc", "a_c"));
  t.false(like("ac", "a_c"));
  t.false(like("abbc", "a_c"));
  t.true(like("abbc", "a__c"));
  t.true(like("abbc", "a_%c"));
  t.false(like("ac", "a_%c"));
});

test("LIKE: matching is case sensitive and anchored at both ends", (t) => {
  t.false(like("ABC", "abc"));
  t.false(like("xabc", "abc"));
  t.false(like("abcx", "abc"));
  t.true(like("abc", "abc"));
});

test("LIKE: \\% and \\_ are the characters themselves, \\\\ is one backslash, any other backslash is itself", (t) => {
  t.true(like("abc%", "abc\\%"));
  t.false(like("abcd", "abc\\%"));
  t.true(like("a_c", "a\\_c"));
  t.false(like("abc", "a\\_c"));
  t.true(like("a\\c", "a\\\\c"));
  t.true(like("a\\%", "a\\\\%"));
  t.true(like("a\\xyz", "a\\\\%"));
  t.true(like("ab\\c", "ab\\c"));
  t.true(like("ab\\", "ab\\"));
  t.false(like("abc", "ab\\c"));
});

test("LIKE: _ is one character even when it is outside the Basic Multilingual Plane", (t) => {
  t.true(like("😀b", "_b"));
  t.false(like("😀b", "__b"));
  t.true(like("a😀😀b", "a%b"));
  t.true(like("a😀b", "a😀b"));
  t.false(like("ab", "a😀b"));
  t.true(like("😀abc", "%abc"), "a plain pattern against text with surrogates");
  t.true(like("a😀", "a%"));
  t.false(like("😀", "ab"));
  t.true(like("x😀y", "x%y"));
});

test("LIKE: a hostile pattern costs at most text length × pattern length comparisons (no backtracking blow-up)", (t) => {
  const text = "a".repeat(5000);
  for (const pattern of [
    `${"%a".repeat(40)}%b`,
    `${"%a_".repeat(40)}%b`,
    `%${"a".repeat(60)}b%`,
    `%${"_a".repeat(30)}b%`,
  ]) {
    let spent = 0;
    const matched = matchLike(compileLikePattern(pattern), text, (units) => {
      spent += units;
    });
    t.false(matched, pattern);
    const bound = (text.length + 1) * (pattern.length + 1);
    t.true(spent <= bound, `${pattern}: spent ${spent}, bound ${bound}`);
  }
});
