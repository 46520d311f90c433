import type { V1Lease } from "@kubernetes/client-node";
import test from "ava";
import { startFakeKube } from "../src/index.js";
import { clients, failure, openWatch } from "./fake-kube-helpers.js";

const leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases";

test("fake kube leases: one holder at a time through optimistic concurrency on resourceVersion", async (t) => {
  const kube = await startFakeKube();
  t.teardown(() => kube.close());
  const { coordination } = clients(kube);
  const now = () => new Date();
  const lease = (holder: string): V1Lease => ({
    metadata: { name: "dispatch-controller" },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      acquireTime: now(),
      renewTime: now(),
      leaseTransitions: 0,
    },
  });
  const acquired = await coordination.createNamespacedLease({
    namespace: "default",
    body: lease("replica-a"),
  });
  t.is(acquired.spec?.holderIdentity, "replica-a");
  const lost = await failure(
    coordination.createNamespacedLease({ namespace: "default", body: lease("replica-b") }),
  );
  t.is(lost.code, 409);
  t.is(lost.status.reason, "AlreadyExists");

  const watch = await openWatch(kube, leases, { resourceVersion: acquired.metadata?.resourceVersion ?? "" });
  t.teardown(() => watch.stop());

  // B reads the lease to take it over once expired; A renews first.
  const seenByB = await coordination.readNamespacedLease({
    namespace: "default",
    name: "dispatch-controller",
  });
  const renewed = await coordination.replaceNamespacedLease({
    namespace: "default",
    name: "dispatch-controller",
    body: { ...seenByB, spec: { ...seenByB.spec, renewTime: now() } },
  });
  t.is(renewed.spec?.holderIdentity, "replica-a");
  const takeover = await failure(
    coordination.replaceNamespacedLease({
      namespace: "default",
      name: "dispatch-controller",
      body: { ...seenByB, spec: { ...seenByB.spec, holderIdentity: "replica-b", leaseTransitions: 1 } },
    }),
  );
  t.is(takeover.code, 409, "B's write on the version it read loses to A's renewal");
  t.is(takeover.status.reason, "Conflict");

  // A releases; B, reading again, takes the lease.
  const released = await coordination.replaceNamespacedLease({
    namespace: "default",
    name: "dispatch-controller",
    body: { ...renewed, spec: { ...renewed.spec, holderIdentity: "" } },
  });
  const taken = await coordination.replaceNamespacedLease({
    namespace: "default",
    name: "dispatch-controller",
    body: {
      ...released,
      spec: {
        ...released.spec,
        holderIdentity: "replica-b",
        acquireTime: now(),
        renewTime: now(),
        leaseTransitions: 1,
      },
    },
  });
  t.is(taken.spec?.holderIdentity, "replica-b");
  t.is(taken.spec?.leaseTransitions, 1);
  t.regex(
    String(
      taken.spec?.renewTime instanceof Date ? taken.spec.renewTime.toISOString() : taken.spec?.renewTime,
    ),
    /^\d{4}-\d\d-\d\dT/,
  );

  await watch.received(3);
  t.deepEqual(
    watch.events.map((e) => [e.type, e.object.spec.holderIdentity]),
    [
      ["MODIFIED", "replica-a"],
      ["MODIFIED", ""],
      ["MODIFIED", "replica-b"],
    ],
    "the failed takeover wrote nothing",
  );

  const invalid = await failure(
    coordination.createNamespacedLease({
      namespace: "default",
      body: { metadata: { name: "bad" }, spec: { leaseDurationSeconds: 0 } },
    }),
  );
  t.is(invalid.code, 422);
  t.is(invalid.status.details?.causes?.[0]?.field, "spec.leaseDurationSeconds");
});
