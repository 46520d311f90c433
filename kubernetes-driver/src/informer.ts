import { type KubeApi, KubeApiError } from "./kube-api.js";

/** A Kubernetes object as JSON. */
export type KubeObject = Record<string, unknown> & {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    [key: string]: unknown;
  };
};

/** What changed, as the informer tells it: one object added, changed or gone. */
export type InformerChange =
  | { type: "added"; object: KubeObject }
  | { type: "modified"; object: KubeObject; previous: KubeObject }
  | { type: "deleted"; object: KubeObject };

/** Options of {@link startInformer}. */
export interface InformerOptions {
  api: KubeApi;
  /** The collection: `/api/v1/namespaces/dispatch/pods`. */
  path: string;
  labelSelector?: string;
  /** Called for every change, in order, once the first list is in (the first list's objects as `added`). */
  onChange(change: InformerChange): void;
  /** Told when the list or watch fails, once per kind of failure until it works again. */
  log?(message: string, error?: unknown): void;
  /** Backoff of retries after a failure: from `minMs` (default 500) doubling to `maxMs` (default 30 s). */
  backoff?: { minMs?: number; maxMs?: number };
}

/** A list + watch of one collection, kept current. */
export interface Informer {
  /** Resolves once the first list is in and told. */
  readonly synced: Promise<void>;
  /** The object by name, as last seen. */
  get(name: string): KubeObject | undefined;
  /** Every object, as last seen. */
  list(): KubeObject[];
  /** How many times the informer listed from scratch (the first list, each `410 Gone`, each failed watch it could not resume). */
  relists(): number;
  close(): void;
}

const nameOf = (object: KubeObject): string => String(object.metadata?.name ?? "");

/**
 * The informer pattern, written for what `@kubernetes/client-node` 1.x's
 * lacks (reference/faas-anchors.md §4.6): a consistent list, then a watch
 * from the list's resourceVersion with bookmarks; the watch resumes from the
 * last version seen when it ends or breaks, and a `410 Gone` (the version is
 * too old) lists again, telling only what changed meanwhile (objects gone
 * while it was away are told as deleted). Failures retry with backoff and
 * are logged once until it works again, so a flapping API server is neither
 * hammered nor floods the log.
 */
export function startInformer(options: InformerOptions): Informer {
  const { api, path } = options;
  const cache = new Map<string, KubeObject>();
  const abort = new AbortController();
  const minMs = options.backoff?.minMs ?? 500;
  const maxMs = options.backoff?.maxMs ?? 30_000;
  let relists = 0;
  let failing: string | undefined;
  let delay = minMs;
  let markSynced!: () => void;
  const synced = new Promise<void>((resolve) => {
    markSynced = resolve;
  });

  const failed = (what: string, error: unknown) => {
    const kind = `${what}: ${error instanceof KubeApiError ? error.status : ((error as Error).name ?? "")}`;
    if (failing !== kind) options.log?.(`${what} ${path} failed (retrying)`, error);
    failing = kind;
  };
  const recovered = () => {
    if (failing !== undefined) options.log?.(`${path}: working again`);
    failing = undefined;
    delay = minMs;
  };
  const sleep = async () => {
    const ms = delay;
    delay = Math.min(maxMs, delay * 2);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      abort.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  };

  const put = (object: KubeObject) => {
    const name = nameOf(object);
    const previous = cache.get(name);
    if (previous && previous.metadata?.resourceVersion === object.metadata?.resourceVersion) return;
    cache.set(name, object);
    options.onChange(previous ? { type: "modified", object, previous } : { type: "added", object });
  };
  const remove = (object: KubeObject) => {
    const name = nameOf(object);
    const previous = cache.get(name);
    if (!previous) return;
    cache.delete(name);
    options.onChange({ type: "deleted", object });
  };

  /** Lists; tells what differs from the cache. Returns the list's resourceVersion. */
  async function list(): Promise<string> {
    const body = await api.request<{ items?: KubeObject[]; metadata?: { resourceVersion?: string } }>({
      method: "GET",
      path,
      query: { labelSelector: options.labelSelector },
      signal: abort.signal,
    });
    relists++;
    const items = body.items ?? [];
    const seen = new Set(items.map(nameOf));
    for (const object of [...cache.values()]) if (!seen.has(nameOf(object))) remove(object);
    for (const object of items) put(object);
    return body.metadata?.resourceVersion ?? "";
  }

  async function run(): Promise<void> {
    let version: string | undefined;
    while (!abort.signal.aborted) {
      try {
        if (version === undefined) {
          version = await list();
          recovered();
          markSynced();
        }
        const watch = api.watch(
          path,
          { labelSelector: options.labelSelector, resourceVersion: version, allowWatchBookmarks: true },
          abort.signal,
        );
        let events = 0;
        for await (const event of watch) {
          events++;
          const object = event.object as KubeObject;
          const seenVersion = object.metadata?.resourceVersion;
          if (event.type === "ERROR") {
            const code = (object as { code?: unknown }).code;
            if (code === 410) version = undefined;
            else
              throw new KubeApiError(
                Number(code) || 500,
                String(object.reason ?? ""),
                String(object.message ?? "watch error"),
              );
            break;
          }
          // Only a real event says the watch works: a refused one arrives as an ERROR event too.
          recovered();
          if (typeof seenVersion === "string" && seenVersion !== "") version = seenVersion;
          if (event.type === "BOOKMARK") continue;
          if (event.type === "DELETED") remove(object);
          else put(object);
        }
        // A watch that ends at once, again and again, is not resumed in a tight loop.
        if (events === 0) await sleep();
      } catch (error) {
        if (abort.signal.aborted) return;
        failed(version === undefined ? "listing" : "watching", error);
        await sleep();
      }
    }
  }
  void run();

  return {
    synced,
    get: (name) => cache.get(name),
    list: () => [...cache.values()],
    relists: () => relists,
    close: () => abort.abort(),
  };
}
