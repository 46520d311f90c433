import test from "ava";
import {
  applyDeltaSubscription,
  covers,
  createSubscription,
  replaceSotwSubscription,
} from "./subscription.js";

test("SotW: a client that never named a resource is a wildcard subscriber; once it named one, empty means nothing", (t) => {
  const sub = createSubscription();
  replaceSotwSubscription(sub, []);
  t.true(covers(sub, "anything"), "legacy wildcard");
  replaceSotwSubscription(sub, ["a"]);
  t.false(covers(sub, "b"));
  t.true(covers(sub, "a"));
  t.true(replaceSotwSubscription(sub, []));
  t.false(covers(sub, "a"), "an empty list after names unsubscribes from everything");
  replaceSotwSubscription(sub, ["*", "x"]);
  t.true(covers(sub, "anything"), "explicit wildcard");
  t.false(replaceSotwSubscription(sub, ["x", "*"]), "same subscription, other order: no change");
});

test("Delta: an empty first subscribe is the legacy wildcard; '*' can be added and dropped", (t) => {
  const legacy = createSubscription();
  applyDeltaSubscription(legacy, [], [], true);
  t.true(legacy.wildcard);
  const named = createSubscription();
  applyDeltaSubscription(named, ["a"], [], true);
  t.false(named.wildcard);
  applyDeltaSubscription(named, [], [], false);
  t.false(named.wildcard, "a later empty request changes nothing");
  const { subscribed } = applyDeltaSubscription(named, ["*", "b"], [], false);
  t.deepEqual(subscribed, ["b"]);
  t.true(named.wildcard);
  const { unsubscribed } = applyDeltaSubscription(named, [], ["*", "a", "never"], false);
  t.deepEqual(unsubscribed, ["a"], "a name never subscribed is a no-op");
  t.false(named.wildcard);
  t.true(covers(named, "b"));
});
