import type { ServerResponse } from "node:http";
import type { JsonObject } from "./json.js";
import type { ObjectFilter, ObjectStore, StoreEvent } from "./object-store.js";
import { apiVersionOf, type ResourceType } from "./resource-types.js";
import { KubeStatusError } from "./status-error.js";

/** A watch request, as its query parameters say it. */
export interface WatchRequest {
  type: ResourceType;
  filter: ObjectFilter;
  /** The `resourceVersion` parameter: undefined or "0" start with the current state as ADDED events. */
  resourceVersion: string | undefined;
  allowBookmarks: boolean;
  /** `sendInitialEvents=true`: the current state as ADDED events, then a bookmark marked initial-events-end. */
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
}

/** A watch being served, as the test hooks see it. */
export interface OpenWatch {
  type: ResourceType;
  filter: ObjectFilter;
  allowBookmarks: boolean;
  /** Sends a BOOKMARK with the current resourceVersion now (when bookmarks were asked for). */
  bookmark(): void;
  /**
   * Ends the stream as a server restart or a load balancer would: `"end"`
   * closes it cleanly (the client sees the end of the body), `"reset"` breaks
   * the connection (the client sees an error such as ECONNRESET).
   */
  drop(how?: "end" | "reset"): void;
}

/** A watcher that reads so slowly that this much is buffered is cut off, as the real server does. */
const maxBuffered = 16 * 1024 * 1024;

function line(type: string, object: JsonObject): string {
  return `${JSON.stringify({ type, object })}\n`;
}

/** What a watcher with this filter sees of a change: the event type, or undefined when it does not see it. */
function visibleAs(
  store: ObjectStore,
  watch: WatchRequest,
  event: StoreEvent,
): StoreEvent["type"] | undefined {
  if (event.resourceType !== watch.type) return undefined;
  const now = store.matches(watch.type, event.object, watch.filter);
  if (event.type !== "MODIFIED") return now ? event.type : undefined;
  const before = event.previous !== undefined && store.matches(watch.type, event.previous, watch.filter);
  // A change that moves an object into or out of a filtered watch is an ADDED or DELETED for it.
  if (now && before) return "MODIFIED";
  if (now) return "ADDED";
  if (before) return "DELETED";
  return undefined;
}

/**
 * Serves one watch as the real API server does: newline-delimited JSON
 * events on a 200 response; the current state first as ADDED events when no
 * resourceVersion is given, else every change after it from the history (an
 * ERROR event holding a 410 Expired Status when that is older than the history);
 * BOOKMARK events when asked for; the stream ends after `timeoutSeconds`.
 */
export function serveWatch(
  store: ObjectStore,
  watch: WatchRequest,
  res: ServerResponse,
  hooks: { bookmarkIntervalMs: number; opened(w: OpenWatch): () => void },
): void {
  res.writeHead(200, { "content-type": "application/json", "cache-control": "no-cache, private" });
  // Headers go out at once: a client's watch call returns when they arrive, before any event.
  res.flushHeaders();
  const kind = watch.type.kind;
  const apiVersion = apiVersionOf(watch.type);
  let ended = false;
  const send = (type: string, object: JsonObject) => {
    if (ended) return;
    res.write(line(type, object));
    if (res.writableLength > maxBuffered) end();
  };
  const sendObject = (type: string, object: JsonObject) => send(type, { apiVersion, kind, ...object });
  const bookmark = (annotations?: Record<string, string>) => {
    const metadata: JsonObject = { resourceVersion: String(store.resourceVersion) };
    if (annotations) metadata.annotations = annotations;
    send("BOOKMARK", { kind, apiVersion, metadata });
  };

  const cleanups: (() => void)[] = [];
  function end(): void {
    if (ended) return;
    ended = true;
    for (const cleanup of cleanups) cleanup();
    res.end();
  }
  res.on("close", end);

  let backlog: StoreEvent[] = [];
  const rv = watch.resourceVersion;
  const fromState = watch.sendInitialEvents || rv === undefined || rv === "" || rv === "0";
  if (!fromState) {
    const n = Number(rv);
    if (!Number.isSafeInteger(n) || n < 0) {
      const error = new KubeStatusError(
        400,
        "BadRequest",
        `invalid resource version "${rv}": use a resourceVersion from a list or an earlier event`,
      );
      send("ERROR", error.toStatus());
      end();
      return;
    }
    try {
      backlog = store.eventsSince(n);
    } catch (error) {
      if (!(error instanceof KubeStatusError)) throw error;
      send("ERROR", error.toStatus());
      end();
      return;
    }
  }
  // Replay and subscription happen in one synchronous step, so no change falls between them.
  if (fromState) {
    for (const item of store.list(watch.type, watch.filter).items) sendObject("ADDED", item);
    if (watch.sendInitialEvents && watch.allowBookmarks) bookmark({ "k8s.io/initial-events-end": "true" });
  }
  for (const event of backlog) {
    const type = visibleAs(store, watch, event);
    if (type) sendObject(type, event.object);
  }
  cleanups.push(
    store.subscribe((event) => {
      const type = visibleAs(store, watch, event);
      if (type) sendObject(type, event.object);
    }),
  );
  if (watch.allowBookmarks && hooks.bookmarkIntervalMs > 0) {
    const timer = setInterval(() => bookmark(), hooks.bookmarkIntervalMs);
    timer.unref();
    cleanups.push(() => clearInterval(timer));
  }
  if (watch.timeoutSeconds !== undefined && watch.timeoutSeconds > 0) {
    const timer = setTimeout(() => {
      if (watch.allowBookmarks) bookmark();
      end();
    }, watch.timeoutSeconds * 1000);
    timer.unref();
    cleanups.push(() => clearTimeout(timer));
  }
  cleanups.push(
    hooks.opened({
      type: watch.type,
      filter: watch.filter,
      allowBookmarks: watch.allowBookmarks,
      bookmark: () => {
        if (watch.allowBookmarks) bookmark();
      },
      drop: (how = "end") => {
        if (how === "reset") res.destroy();
        else end();
      },
    }),
  );
}
