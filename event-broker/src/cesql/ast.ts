/**
 * The syntax tree of a parsed CESQL expression. Each node keeps `offset`, where it stands in the source
 * (an operator's own position for operators), so errors can point at it.
 */

import type { CesqlFunction } from "./functions.js";
import type { LikePattern } from "./like.js";
import type { CesqlValue } from "./values.js";

/** The binary operators (§2.3), `<>` folded into `!=`. */
export type BinaryOperator =
  | "AND"
  | "OR"
  | "XOR"
  | "="
  | "!="
  | "<"
  | "<="
  | ">"
  | ">="
  | "+"
  | "-"
  | "*"
  | "/"
  | "%";

/** A node of the tree. */
export type CesqlNode =
  | { readonly kind: "literal"; readonly offset: number; readonly value: CesqlValue }
  /** An attribute, by its lowercase name. */
  | { readonly kind: "attribute"; readonly offset: number; readonly name: string }
  | { readonly kind: "exists"; readonly offset: number; readonly name: string }
  | { readonly kind: "not"; readonly offset: number; readonly operand: CesqlNode }
  | { readonly kind: "negate"; readonly offset: number; readonly operand: CesqlNode }
  | {
      readonly kind: "binary";
      readonly offset: number;
      readonly operator: BinaryOperator;
      readonly left: CesqlNode;
      readonly right: CesqlNode;
    }
  | {
      readonly kind: "like";
      readonly offset: number;
      readonly negated: boolean;
      readonly operand: CesqlNode;
      readonly pattern: LikePattern;
    }
  | {
      readonly kind: "in";
      readonly offset: number;
      readonly negated: boolean;
      readonly operand: CesqlNode;
      readonly set: readonly CesqlNode[];
    }
  /** A function call; `fn` is the built-in it resolved to, or undefined when none has that name and arity. */
  | {
      readonly kind: "call";
      readonly offset: number;
      readonly name: string;
      readonly args: readonly CesqlNode[];
      readonly fn: CesqlFunction | undefined;
    };
