import { request } from "node:http";
import { WORKER_TOKEN_HEADER } from "@dispatch/runtimes";
import type { Driver, DriverHost, InstanceEndpoint, InstanceEvent, RevisionSpec } from "@dispatch/server-kit";
import { openIsolation } from "../src/functions/isolation/isolation.js";
import { createLocalDriver } from "../src/functions/local-driver.js";

/**
 * The control plane's own local driver (real worker processes, sandboxed as
 * `dispatch up` runs them), with a tap on what it reports and is told: the
 * ready instances of each function with their address and credential, as the
 * data plane gets them (to call workers directly, as the gateway will), and
 * every replica count the control plane asked for.
 */
export function tappedLocalDriver() {
  const ready = new Map<string, InstanceEndpoint[]>();
  const gone = new Set<string>();
  const replicas = new Map<string, number[]>();
  const waiting: Array<() => void> = [];
  const changed = () => {
    for (const wake of waiting.splice(0)) wake();
  };
  async function* tapped(revision: RevisionSpec, events: AsyncIterable<InstanceEvent>) {
    for await (const event of events) {
      if (event.type === "ready") {
        ready.set(revision.name, [...(ready.get(revision.name) ?? []), event.instance]);
        changed();
      } else if (event.type === "gone") {
        gone.add(event.id);
        changed();
      }
      yield event;
    }
  }
  const factory = async (host: DriverHost): Promise<Driver> => {
    const inner = createLocalDriver({ ...host, isolation: await openIsolation() });
    return {
      name: inner.name,
      ...(inner.isolation ? { isolation: inner.isolation } : {}),
      scale(revision, count, options) {
        replicas.set(revision.name, [...(replicas.get(revision.name) ?? []), count]);
        inner.scale(revision, count, options);
      },
      instances: (revision, signal) => tapped(revision, inner.instances(revision, signal)),
      remove: (revision, drainMs) => inner.remove(revision, drainMs),
      close: () => inner.close(),
    };
  };
  return {
    factory,
    /** Every replica count asked for the function, in order. */
    replicasOf: (name: string): number[] => replicas.get(name) ?? [],
    /** Resolves once the driver reported the instance gone. */
    async instanceGone(id: string): Promise<void> {
      while (!gone.has(id)) await new Promise<void>((resolve) => waiting.push(resolve));
    },
    /** The function's first ready instance (address and credential), once there is one. */
    async instanceOf(name: string): Promise<InstanceEndpoint> {
      for (;;) {
        const first = ready.get(name)?.[0];
        if (first) return first;
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
    },
  };
}

/**
 * Calls a worker straight on its port with the instance's credential, as the
 * data plane's warm path does (the control plane sees nothing of the call):
 * `POST /invoke` with the payload; resolves with the answer's status and body.
 */
export function callDirectly(
  instance: InstanceEndpoint,
  payload: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${instance.url}/invoke`,
      {
        method: "POST",
        headers: { "content-type": "application/json", [WORKER_TOKEN_HEADER]: instance.token },
        agent: false,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify({ payload, context: {} }));
  });
}
