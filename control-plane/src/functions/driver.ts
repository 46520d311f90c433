/** What a driver needs to run one revision of a function. */
export interface RevisionSpec {
  org: string;
  name: string;
  uid: string;
  generation: bigint;
  runtime: string;
  /** The bundle's content digest ("sha256:..."). */
  digest: string;
  handler: string;
  env: Record<string, string>;
  /** The unpacked bundle (local driver). */
  directory: string;
  timeoutMs: number;
}

/** How an instance ended. */
export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the driver stopped it (scale down, drain, shutdown). */
  stopped: boolean;
}

/** One running worker of a function revision. */
export interface Instance {
  id: string;
  /** Base URL of the worker's HTTP contract, e.g. http://127.0.0.1:41234. */
  url: string;
  /** Resolves when the worker ends, for whatever reason. */
  exited: Promise<InstanceExit>;
  /** Stops the worker: SIGTERM, calls in flight finish (up to drainMs), then SIGKILL. */
  stop(drainMs?: number): Promise<void>;
}

/** A line a worker wrote. */
export interface WorkerLogLine {
  org: string;
  function: string;
  instance: string;
  stream: "stdout" | "stderr";
  text: string;
  runId: string;
}

/** The handler could not be loaded: `message` is the runtime's own words. */
export class LoadError extends Error {
  override readonly name = "LoadError";
}

/** Starts workers: as local processes, or as pods (later). */
export interface Driver {
  /** The name shown in status ("local", "kubernetes"). */
  readonly name: string;
  /**
   * Starts one instance and resolves once it passed its readiness probe.
   * Rejects with {@link LoadError} when the handler does not load.
   */
  start(revision: RevisionSpec): Promise<Instance>;
  /** Stops every instance (shutdown). */
  close(): Promise<void>;
}
