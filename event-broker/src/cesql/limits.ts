/**
 * Bounds on what one CESQL expression may cost. Filters come from users and events from producers, so both
 * are hostile input: the length and nesting caps keep parsing and the (recursive) evaluation far from the
 * stack's end, and the work budget bounds the time one evaluation can take (a `LIKE` with many `%` against a
 * long attribute, or `CONCAT` of long attributes, is the expensive case).
 */
export interface CesqlLimits {
  /** The longest accepted expression, in UTF-16 code units. Default 4096. */
  readonly maxLength: number;
  /**
   * The deepest accepted nesting: each operator, function call, parenthesis and set adds a level, so a chain
   * of 100 `OR`s is 100 levels deep. Default 128.
   */
  readonly maxDepth: number;
  /**
   * Work units one evaluation may spend, roughly one per character a function, cast or `LIKE` examines or
   * produces. An evaluation that runs out stops with a GenericError and the zero value of the expression's
   * type. Default 4,000,000.
   */
  readonly maxWork: number;
}

/** The limits that apply when none are given. */
export const CESQL_DEFAULT_LIMITS: CesqlLimits = Object.freeze({
  maxLength: 4096,
  maxDepth: 128,
  maxWork: 4_000_000,
});
