import test from "ava";
import { rolloutState } from "./rollout.js";

const deployment = (status: object, generation = 2, replicas = 2) => ({
  kind: "Deployment",
  metadata: { name: "d", generation },
  spec: { replicas },
  status: { observedGeneration: 2, ...status },
});

test("rollout: a Deployment is done when every replica runs the newest spec and is available", (t) => {
  t.deepEqual(rolloutState(deployment({ observedGeneration: 1 })), {
    done: false,
    waiting: "the new spec is not yet seen",
  });
  t.deepEqual(rolloutState(deployment({ updatedReplicas: 1, replicas: 2 })), {
    done: false,
    waiting: "1 of 2 replicas updated",
  });
  t.deepEqual(rolloutState(deployment({ updatedReplicas: 2, replicas: 3 })), {
    done: false,
    waiting: "1 old replicas still terminating",
  });
  t.deepEqual(rolloutState(deployment({ updatedReplicas: 2, replicas: 2, availableReplicas: 1 })), {
    done: false,
    waiting: "1 of 2 updated replicas available",
  });
  t.deepEqual(rolloutState(deployment({ updatedReplicas: 2, replicas: 2, availableReplicas: 2 })), {
    done: true,
  });
  t.deepEqual(
    rolloutState(
      deployment({
        conditions: [
          { type: "Progressing", reason: "ProgressDeadlineExceeded", message: "ReplicaSet x has timed out" },
        ],
      }),
    ),
    { done: false, failed: "ReplicaSet x has timed out" },
  );
});

test("rollout: a StatefulSet is done when every pod is updated, ready, and on the newest revision", (t) => {
  const sts = (status: object) => ({
    kind: "StatefulSet",
    metadata: { name: "nats", generation: 1 },
    spec: { replicas: 3 },
    status: { observedGeneration: 1, ...status },
  });
  t.deepEqual(rolloutState(sts({ updatedReplicas: 2, readyReplicas: 3 })), {
    done: false,
    waiting: "2 of 3 pods updated",
  });
  t.deepEqual(rolloutState(sts({ updatedReplicas: 3, readyReplicas: 2 })), {
    done: false,
    waiting: "2 of 3 pods ready",
  });
  t.deepEqual(
    rolloutState(sts({ updatedReplicas: 3, readyReplicas: 3, currentRevision: "a", updateRevision: "b" })),
    {
      done: false,
      waiting: "the last pods are being replaced",
    },
  );
  t.deepEqual(
    rolloutState(sts({ updatedReplicas: 3, readyReplicas: 3, currentRevision: "b", updateRevision: "b" })),
    {
      done: true,
    },
  );
});
