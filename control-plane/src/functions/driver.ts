import type { IsolationReport } from "./isolation/isolation.js";

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
  /** The spec's `resources.memory` (a Kubernetes quantity), "" for the default. */
  memory: string;
}

/** How an instance ended. */
export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the driver stopped it (scale down, drain, shutdown). */
  stopped: boolean;
  /** Why it ended, in plain words, when the driver knows more than the status: "out of memory (limit 128Mi)". */
  reason?: string;
}

/** How an instance ended, for messages: its reason, else "signal SIGKILL" or "exit code 3". */
export function describeExit(exit: InstanceExit): string {
  return exit.reason ?? (exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`);
}

/** One running worker of a function revision. */
export interface Instance {
  id: string;
  /** Base URL of the worker's HTTP contract, e.g. http://127.0.0.1:41234. */
  url: string;
  /**
   * The instance's credential: every call but `GET /healthz` carries it in the
   * `Dispatch-Worker-Token` header, or the worker refuses it (runtimes/CONTRACT.md).
   */
  token: string;
  /** Resolves when the worker ends, for whatever reason. */
  exited: Promise<InstanceExit>;
  /**
   * Stops the worker: it drains (calls in flight finish, up to drainMs), then
   * everything left of the instance is killed, its child processes included.
   */
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
  /** How its workers are isolated, for status; undefined when the driver does not say. */
  readonly isolation?: IsolationReport;
  /**
   * Starts one instance and resolves once it passed its readiness probe.
   * Rejects with {@link LoadError} when the handler does not load.
   */
  start(revision: RevisionSpec): Promise<Instance>;
  /** Stops every instance (shutdown). */
  close(): Promise<void>;
}
