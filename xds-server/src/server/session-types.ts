import type { Node } from "@dispatch/proto/envoy";
import type { ResourceRef } from "../cache/references.js";
import type { Subscription } from "./subscription.js";

/** Who a stream belongs to: the node of its first request (later requests may omit it). */
export interface NodeInfo {
  id: string;
  cluster: string;
  userAgent: string;
}

/** A resource as a client holds it: its version and what it names. */
export interface Held {
  readonly name: string;
  readonly version: string;
  readonly references: readonly ResourceRef[];
}

/** A client's answer to one response. */
export interface AckEvent {
  node: NodeInfo;
  protocol: "sotw" | "delta";
  typeUrl: string;
  nonce: string;
  /** The resources of the response (for SotW: every resource of the type it held after it). */
  resources: { name: string; version: string }[];
  /** Names the response removed (Delta). */
  removed: string[];
}

/** A NACK: the client refused a response and keeps what it had. */
export interface NackEvent extends AckEvent {
  /** `error_detail.code` (a google.rpc.Code). */
  code: number;
  /** `error_detail.message`: the proxy's reason, cut to {@link maxNackMessageLength} characters. */
  message: string;
}

/** The longest NACK message passed on. */
export const maxNackMessageLength = 4096;

/** What the server tells about each connected client. */
export interface ClientInfo {
  node: NodeInfo;
  protocol: "sotw" | "delta";
  /** Per type URL: what the client has ACKed, name → version. */
  acked: Map<string, Map<string, string>>;
}

/** What push rules read of one client. */
export interface ClientView {
  subscription(typeUrl: string): Subscription | undefined;
  acked(typeUrl: string): ReadonlyMap<string, Held> | undefined;
  /** Resources sent and not answered yet. */
  inFlight(typeUrl: string): readonly Held[];
  /** The version of `name` in the latest response the client answered (ACK or NACK). */
  answered(typeUrl: string, name: string): string | undefined;
}

/** Limits on what one stream may ask for. */
export const streamLimits = {
  types: 32,
  names: 100_000,
  nameLength: 4096,
} as const;

/** A request that breaks the protocol or a limit: the stream ends with this status. */
export class AdsProtocolError extends Error {
  override readonly name = "AdsProtocolError";
  /** @param code a gRPC status code */
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** The node fields a stream is known by. */
export function nodeInfo(node: Node | undefined): NodeInfo {
  return { id: node?.id ?? "", cluster: node?.cluster ?? "", userAgent: node?.userAgentName ?? "" };
}
