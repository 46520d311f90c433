/**
 * The errors of CESQL v1 (§3.3), one class per error type the spec names.
 *
 * Evaluation never throws them: CESQL is total, so an evaluation returns a value together with the list of
 * errors that arose (see `CesqlResult`). They are `Error` subclasses so that a caller may log or wrap them, and
 * they are told apart with `instanceof`.
 */

/** Where in an expression something happened. */
export interface CesqlPosition {
  /** 0-based offset into the expression, in UTF-16 code units. */
  readonly offset: number;
  /** 1-based line. */
  readonly line: number;
  /** 1-based column, in characters (code points). */
  readonly column: number;
}

/** The base of every CESQL error; `position` points into the expression where it arose. */
export class CesqlError extends Error {
  override name = "CesqlError";
  /** The plain-language explanation, without the position. */
  readonly detail: string;
  readonly position: CesqlPosition | undefined;

  constructor(detail: string, position?: CesqlPosition, options?: ErrorOptions) {
    super(position === undefined ? detail : `${describePosition(position)}: ${detail}`, options);
    this.detail = detail;
    this.position = position;
  }
}

/** ParseError: the expression is not CESQL (or breaks a limit on size or nesting). */
export class CesqlParseError extends CesqlError {
  override name = "CesqlParseError";
}

/** MathError: a division or remainder by zero, or an Integer result outside the 32-bit range. */
export class CesqlMathError extends CesqlError {
  override name = "CesqlMathError";
}

/** CastError: an implicit or explicit cast that has no result (e.g. `INT('abc')`). */
export class CesqlCastError extends CesqlError {
  override name = "CesqlCastError";
}

/** MissingAttributeError: the expression reads an attribute the event does not have. */
export class CesqlMissingAttributeError extends CesqlError {
  override name = "CesqlMissingAttributeError";
}

/** MissingFunctionError: no function of that name takes that many arguments. */
export class CesqlMissingFunctionError extends CesqlError {
  override name = "CesqlMissingFunctionError";
}

/** FunctionEvaluationError: a function was called with arguments it has no answer for (e.g. `LEFT(x, -1)`). */
export class CesqlFunctionEvaluationError extends CesqlError {
  override name = "CesqlFunctionEvaluationError";
}

/** GenericError: anything else; here, an evaluation that exceeded its work budget (see `CesqlLimits`). */
export class CesqlGenericError extends CesqlError {
  override name = "CesqlGenericError";
}

/** A constructor of one of the classes above. */
export type CesqlErrorClass = new (detail: string, position?: CesqlPosition) => CesqlError;

/** The position of `offset` in `source`, for messages a person reads. */
export function positionIn(source: string, offset: number): CesqlPosition {
  let line = 1;
  let column = 1;
  for (let i = 0; i < offset && i < source.length; i++) {
    const code = source.charCodeAt(i);
    if (code === 0x0a) {
      line++;
      column = 1;
    } else if (code < 0xdc00 || code > 0xdfff) {
      // A low surrogate finishes a character its high surrogate already counted.
      column++;
    }
  }
  return { offset, line, column };
}

/** "at column N", or "at line L, column N" when the expression has several lines. */
export function describePosition(position: CesqlPosition): string {
  return position.line === 1
    ? `at column ${position.column}`
    : `at line ${position.line}, column ${position.column}`;
}
