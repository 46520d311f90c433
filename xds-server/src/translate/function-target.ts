import { isIP } from "node:net";
import { type Function as FunctionResource, Phase } from "@dispatch/proto";
import type { AddressIR } from "../ir/ir.js";
import { compareStrings } from "./order.js";

/** The most instance addresses one function contributes to its cluster. */
export const maxInstances = 1000;

/** Where calls for a function go now. */
export type FunctionTarget =
  /** Its ready instances. `ignored` lists addresses that are not `http://IP:PORT`. */
  | { kind: "instances"; addresses: AddressIR[]; ignored: string[] }
  /** No instance is ready but the function can be woken: the activator holds the call. */
  | { kind: "activator"; ignored: string[] }
  /** Nothing can serve it: calls are answered 503 with `message`. */
  | { kind: "unavailable"; reason: "FunctionNotFound" | "FunctionNotReady"; message: string };

/**
 * Decides where a function's calls go, from its status alone: ready instances
 * (whatever the phase: an update in progress still serves from the old
 * revision), else the activator if the function is READY or UPDATING (scaled to
 * zero, it wakes on the first call), else nowhere: missing, still being created,
 * failed, or being deleted.
 */
export function functionTarget(org: string, name: string, fn: FunctionResource | undefined): FunctionTarget {
  if (!fn) {
    return {
      kind: "unavailable",
      reason: "FunctionNotFound",
      message: `function "${name}" does not exist in org "${org}"`,
    };
  }
  const ignored: string[] = [];
  const seen = new Set<string>();
  const addresses: AddressIR[] = [];
  for (const raw of (fn.status?.endpoints ?? []).slice(0, maxInstances)) {
    const address = parseInstanceAddress(raw);
    if (!address) {
      ignored.push(raw);
      continue;
    }
    const key = `${address.host}|${address.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    addresses.push(address);
  }
  if (addresses.length > 0) {
    addresses.sort((a, b) => compareStrings(a.host, b.host) || a.port - b.port);
    return { kind: "instances", addresses, ignored };
  }
  const phase = fn.status?.phase ?? Phase.UNSPECIFIED;
  if (phase === Phase.READY || phase === Phase.UPDATING) return { kind: "activator", ignored };
  return {
    kind: "unavailable",
    reason: "FunctionNotReady",
    message: `function "${name}" is not ready (${phaseName(phase)})`,
  };
}

/** `http://IP:PORT` (or `IP:PORT`, `[IPv6]:PORT`) → address; undefined for anything else. */
export function parseInstanceAddress(raw: string): AddressIR | undefined {
  if (raw.length > 256) return undefined;
  let url: URL;
  try {
    url = new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" || url.port === "" || url.username !== "" || url.password !== "")
    return undefined;
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "") return undefined;
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  // EDS endpoints are not resolved by the proxy: they must be IPs.
  if (isIP(host) === 0) return undefined;
  return { host, port: Number(url.port) };
}

function phaseName(phase: Phase): string {
  return Phase[phase] ?? `phase ${phase}`;
}
