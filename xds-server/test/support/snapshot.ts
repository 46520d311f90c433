import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { EndpointSchema, FunctionSchema } from "@dispatch/proto";
import type { IngressSnapshot, TranslateOptions } from "../../src/index.js";

/** A snapshot as test fixtures write it: proto3 JSON for the objects, a plain map for token secrets. */
export interface SnapshotFixture {
  endpoints?: JsonValue[];
  functions?: JsonValue[];
  /** `"<org>/<secret>"` → the tokens it holds. */
  tokens?: Record<string, string[]>;
  /** Overrides of {@link fixtureOptions}. */
  options?: Partial<TranslateOptions>;
}

/** The translation options fixtures use unless they say otherwise. */
export const fixtureOptions: TranslateOptions = { activator: { host: "10.0.0.100", port: 8081 } };

/** Builds the snapshot a fixture describes. */
export function snapshotOf(fixture: SnapshotFixture): IngressSnapshot {
  return {
    endpoints: (fixture.endpoints ?? []).map((e) => fromJson(EndpointSchema, e)),
    functions: (fixture.functions ?? []).map((f) => fromJson(FunctionSchema, f)),
    tokens: (org, secret) => fixture.tokens?.[`${org}/${secret}`],
  };
}

/** A READY function with ready instances at these addresses (`http://IP:PORT`). */
export function readyFunction(
  name: string,
  endpoints: string[],
  extra: { org?: string; timeout?: string } = {},
) {
  return {
    meta: { name, org: extra.org ?? "default" },
    spec: { runtime: "nodejs", ...(extra.timeout ? { timeout: extra.timeout } : {}) },
    status: { phase: "PHASE_READY", endpoints, readyInstances: endpoints.length },
  } satisfies JsonValue;
}
