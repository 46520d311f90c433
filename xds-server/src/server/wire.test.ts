import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  CLUSTER_TYPE_URL,
  DeltaDiscoveryResponseSchema,
  DiscoveryResponseSchema,
  ResourceSchema,
} from "@dispatch/proto/envoy";
import test from "ava";
import { cluster } from "../../test/support/resources.js";
import { cacheResource } from "../cache/cached-resource.js";
import { createResponseEncoder } from "./wire.js";

const a = cluster("a");
const b = cluster("b");
const cachedA = cacheResource(a.typeUrl, a.name, a.schema, a.message);
const cachedB = cacheResource(b.typeUrl, b.name, b.schema, b.message);

test("a SotW response built from shared bytes is the message toBinary would give", (t) => {
  const bytes = createResponseEncoder("cp-1").sotw({
    versionInfo: "v1",
    resources: [cachedA, cachedB],
    typeUrl: CLUSTER_TYPE_URL,
    nonce: "7",
  });
  const expected = create(DiscoveryResponseSchema, {
    versionInfo: "v1",
    resources: [
      { typeUrl: CLUSTER_TYPE_URL, value: cachedA.bytes },
      { typeUrl: CLUSTER_TYPE_URL, value: cachedB.bytes },
    ],
    typeUrl: CLUSTER_TYPE_URL,
    nonce: "7",
    controlPlane: { identifier: "cp-1" },
  });
  t.deepEqual(fromBinary(DiscoveryResponseSchema, bytes), expected);
  t.deepEqual(Buffer.from(bytes), Buffer.from(toBinary(DiscoveryResponseSchema, expected)), "byte for byte");
});

test("a Delta response built from shared bytes is the message toBinary would give", (t) => {
  const bytes = createResponseEncoder("").delta({
    systemVersionInfo: "3",
    resources: [cachedA],
    removed: ["gone", "old"],
    typeUrl: CLUSTER_TYPE_URL,
    nonce: "9",
  });
  const decoded = fromBinary(DeltaDiscoveryResponseSchema, bytes);
  t.deepEqual(
    decoded,
    create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: "3",
      resources: [
        create(ResourceSchema, {
          name: "a",
          version: cachedA.version,
          resource: { typeUrl: CLUSTER_TYPE_URL, value: cachedA.bytes },
        }),
      ],
      typeUrl: CLUSTER_TYPE_URL,
      nonce: "9",
      removedResources: ["gone", "old"],
    }),
  );
});

test("a resource's SotW and Delta entries are encoded once and shared", (t) => {
  t.is(cachedA.anyBytes, cachedA.anyBytes);
  t.is(cachedA.deltaBytes, cachedA.deltaBytes);
});
