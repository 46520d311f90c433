/**
 * @dispatch/event-broker: the CloudEvents broker. Ingress (HTTP binary,
 * structured and batched modes; the Connect `EventService`), storage in
 * NATS JetStream (one stream per org and broker, subjects from the event
 * type: `store/layout.ts`), and the dispatcher (a durable consumer per
 * subscription, delivery through the invoker with retries, backoff, dead
 * letters and replies). Its filter language is CESQL v1 (`cesql/`) beside
 * the Subscriptions API dialects (`@dispatch/event-broker/filters`).
 */

export { type Caller, type Callers, createCallers } from "./api/callers.js";
export {
  defaultMaxEventBytes,
  type EventBroker,
  type EventBrokerOptions,
  startEventBroker,
} from "./broker.js";
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
export { type DeliveryPolicy, defaultDelivery, retryDelayMs } from "./delivery/policy.js";
export { eventsFromHttp, IngressError } from "./ingress/http-events.js";
export { defaultRetention, duplicateWindowMs, type Retention } from "./store/event-store.js";
export * as layout from "./store/layout.js";
