import type { Secret } from "@dispatch/proto";
import type { TcpRelay, TestDispatch } from "@dispatch/testkit";
import {
  createDispatchClients,
  createDispatchTransport,
  type DispatchClients,
  type WatchCache,
  type WatchChange,
} from "../src/index.js";

/** Clients straight to the control plane (HTTP/2), for the test's own writes and reads. */
export function directClients(dispatch: TestDispatch, token = dispatch.token): DispatchClients {
  return createDispatchClients(createDispatchTransport({ server: dispatch.url, token }));
}

/** Clients through the relay, over one HTTP/2 connection, as a component's would be. */
export function relayedClients(relay: TcpRelay, token: string): DispatchClients {
  return createDispatchClients(createDispatchTransport({ server: relay.url, token, httpVersion: "2" }));
}

/** The port of a test control plane. */
export function portOf(dispatch: TestDispatch): number {
  return Number(new URL(dispatch.url).port);
}

/** Creates a secret with one key; returns its revision. */
export async function putSecret(
  clients: DispatchClients,
  name: string,
  data: Record<string, string>,
  verb: "create" | "update" = "create",
): Promise<bigint> {
  const request = { secret: { meta: { name }, spec: { data } } };
  const response =
    verb === "create" ? await clients.secrets.create(request) : await clients.secrets.update(request);
  return response.secret?.meta?.revision ?? 0n;
}

/** The secrets the server lists, as `name@revision`, sorted. */
export async function listed(clients: DispatchClients): Promise<string[]> {
  const { items } = await clients.secrets.list({});
  return items.map(describe).sort();
}

/** The secrets a cache holds, as `name@revision`, sorted. */
export function cached(cache: WatchCache<Secret>): string[] {
  return cache.list().map(describe).sort();
}

export function describe(secret: Secret): string {
  return `${secret.meta?.name}@${secret.meta?.revision}`;
}

/** A change as `upsert default/a@12`, `delete default/c`, `synced`. */
export function describeChange(change: WatchChange<Secret>): string {
  if (change.type === "synced") return "synced";
  if (change.type === "delete") return `delete ${change.key}`;
  return `upsert ${change.key}@${change.revision}`;
}

/**
 * Pulls batches until `until` holds for everything pulled so far; returns
 * the changes (synced markers included) in the order they came.
 */
export async function pullUntil(
  batches: AsyncIterator<WatchChange<Secret>[]>,
  until: (changes: WatchChange<Secret>[]) => boolean,
): Promise<WatchChange<Secret>[]> {
  const changes: WatchChange<Secret>[] = [];
  while (!until(changes)) {
    const next = await batches.next();
    if (next.done) throw new Error(`the changes ended after ${changes.map(describeChange).join(", ")}`);
    changes.push(...next.value);
  }
  return changes;
}
