import test from "ava";
import { createNackTracker } from "./nack-tracker.js";

test("nack tracker: remembers refusals per node and type, bounded per node and in nodes", (t) => {
  const tracker = createNackTracker({ perNode: 2, nodes: 2 });
  tracker.reject("n1", "T", "a@1");
  t.true(tracker.isRejected("n1", "T", "a@1"));
  t.false(tracker.isRejected("n1", "U", "a@1"), "per type");
  t.false(tracker.isRejected("n2", "T", "a@1"), "per node");
  tracker.reject("n1", "T", "b@1");
  tracker.reject("n1", "T", "c@1");
  t.false(tracker.isRejected("n1", "T", "a@1"), "the oldest refusal goes first");
  t.true(tracker.isRejected("n1", "T", "c@1"));
  tracker.reject("n2", "T", "x@1");
  tracker.reject("n3", "T", "y@1");
  t.false(tracker.isRejected("n1", "T", "c@1"), "the least recently seen node goes first");
  t.true(tracker.isRejected("n3", "T", "y@1"));
});
