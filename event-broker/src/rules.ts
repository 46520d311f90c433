/**
 * `@dispatch/event-broker/rules`: what makes a subscription one the broker
 * can run, for whoever checks a subscription (the control plane, at create
 * and update) and the broker itself: the filter dialects (CESQL compiled
 * once) and the delivery limits. Pure: no I/O, nothing else loaded.
 */

export { maxConcurrency, maxRetries } from "./delivery/limits.js";
export {
  compileFilters,
  type EventMatcher,
  type FilterProblem,
  filterProblems,
  maxFilterDepth,
} from "./filters/filters.js";
