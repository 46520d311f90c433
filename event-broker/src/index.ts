/**
 * @dispatch/event-broker: the CloudEvents broker. So far, its filter language: CESQL v1, the CloudEvents SQL
 * Expression Language, which `dispatch create subscription --filter` and the `sql` filter dialect use.
 *
 * @example
 * import { compileCesql } from "@dispatch/event-broker";
 * const compiled = compileCesql("source LIKE 'https://%' AND EXISTS subject");
 * if (compiled.ok) compiled.expression.matches({ id: "1", source: "https://a", type: "t", specversion: "1.0" });
 */

export {
  type CesqlCompileResult,
  type CesqlExpression,
  type CesqlOptions,
  type CesqlResult,
  compileCesql,
  evaluateCesql,
} from "./cesql/compile.js";
export {
  CesqlCastError,
  CesqlError,
  CesqlFunctionEvaluationError,
  CesqlGenericError,
  CesqlMathError,
  CesqlMissingAttributeError,
  CesqlMissingFunctionError,
  CesqlParseError,
  type CesqlPosition,
} from "./cesql/errors.js";
export type { CesqlEvent } from "./cesql/event.js";
export { CESQL_DEFAULT_LIMITS, type CesqlLimits } from "./cesql/limits.js";
export type { CesqlType, CesqlValue } from "./cesql/values.js";
