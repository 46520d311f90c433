/** How workers are kept from the platform and from each other, as a driver reports it. */
export interface IsolationReport {
  /** "bubblewrap", "process" (local workers), "pod" (Kubernetes). */
  mode: string;
  /** What isolates a function, in one line. */
  summary: string;
  /** Set when functions can reach what they should not: what, and how to fix it. */
  warning: string | undefined;
}

/**
 * The bundle a revision runs, by reference: its content digest and how it is
 * stored. A driver that runs workers on this machine unpacks it from the
 * source store; one whose instances run elsewhere (pods) has them fetch it
 * from the control plane (`GET /bundles/<digest>`, verified by digest).
 */
export interface BundleRef {
  /** "sha256:<hex>" of the bundle's bytes. */
  digest: string;
  /** "file" for a single file, "tar.gz" (or a plain tar) for a directory. */
  format: string;
  /** The file name of a single-file bundle (e.g. "hello.js"). */
  filename: string;
}

/** One revision of a function: what a driver needs to run its instances. Plain data. */
export interface RevisionSpec {
  org: string;
  name: string;
  uid: string;
  generation: bigint;
  runtime: string;
  bundle: BundleRef;
  handler: string;
  env: Record<string, string>;
  timeoutMs: number;
  /** The spec's `resources.memory` (a Kubernetes quantity), "" for the default. */
  memory: string;
  /** The spec's `resources.cpu` (a Kubernetes quantity, "250m"), "" for the default; drivers that cannot share CPU ignore it. */
  cpu: string;
}

/**
 * The key a driver files a revision under: org, name, uid and generation
 * (a function deleted and created again under its name has another uid).
 */
export function revisionKey(revision: RevisionSpec): string {
  return `${revision.org}/${revision.name}/${revision.uid}/${revision.generation}`;
}

/** How an instance ended. */
export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the driver stopped it (scale down, a named stop, removal, shutdown). */
  stopped: boolean;
  /** Why it ended, in plain words, when the driver knows more than the status: "out of memory (limit 128Mi)". */
  reason?: string;
}

/** How an instance ended, for messages: its reason, else "signal SIGKILL" or "exit code 3". */
export function describeExit(exit: InstanceExit): string {
  return exit.reason ?? (exit.signal ? `signal ${exit.signal}` : `exit code ${exit.code}`);
}

/** A ready instance as its driver reports it: where it listens and the credential it takes calls with. */
export interface InstanceEndpoint {
  /** Unique within the driver: "hello-3-12". */
  id: string;
  /** Base URL of the worker's HTTP contract, e.g. http://127.0.0.1:41234 or a pod's address. */
  url: string;
  /**
   * The instance's credential: every call but `GET /healthz` carries it in the
   * `Dispatch-Worker-Token` header, or the worker refuses it (runtimes/CONTRACT.md).
   * Issued by the control plane ({@link InstanceCredentials}), so that a pod can
   * fetch its bundle with it too.
   */
  token: string;
}

/**
 * What happens to a revision's instances, as a driver observes it. A
 * subscriber first gets the instances there are (`starting`, then `ready`),
 * then every change, in order.
 */
export type InstanceEvent =
  /** An instance was started (a process spawned, a pod scheduled): it counts against the org's instances until it is gone. */
  | { type: "starting"; id: string }
  /** It passed its readiness probe: it takes calls. */
  | { type: "ready"; instance: InstanceEndpoint }
  /**
   * It ended: stopped by the driver (`exit.stopped`), or crashed. `restartInMs`:
   * the driver starts a replacement after this backoff unless the replicas are
   * lowered first.
   */
  | { type: "gone"; id: string; exit: InstanceExit; restartInMs?: number }
  /**
   * It never became ready: `error` says why (a {@link LoadError} with the
   * runtime's own words when the handler does not load). `restartInMs` as for `gone`.
   */
  | { type: "failed"; id: string; error: Error; restartInMs?: number };

/** What {@link Driver.scale} may also be told. */
export interface ScaleOptions {
  /**
   * Instances to stop now, chosen by the caller: the idle one of a scale
   * down, a wedged one to replace (its replicas unchanged, the driver starts
   * another). Without names a driver stops what it likes (instances still
   * starting first, then the newest).
   */
  stop?: readonly string[];
  /** How long the named instances may take to finish calls in flight; default 30 s (0 for a wedged one). */
  drainMs?: number;
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

/** The handler could not be loaded (or the instance not prepared): `message` is the runtime's own words. */
export class LoadError extends Error {
  override readonly name = "LoadError";
}

/**
 * Runs function instances, told the desired state of each revision (as a
 * Deployment's replicas are) and reporting what it observes. The driver keeps
 * the replicas running: it starts what is missing, restarts crashed instances
 * with backoff (as the kubelet does), stops what is too many. Everything about
 * calls (slots, waiting, idle time, load) stays in the control plane's pools.
 * Decision record: docs/decisions/0005-driver-v2-and-the-load-signal.md.
 */
export interface Driver {
  /** The name shown in status ("local", "kubernetes"). */
  readonly name: string;
  /** How its workers are isolated, for status; undefined when the driver does not say. */
  readonly isolation?: IsolationReport;
  /**
   * True when instances outlive the control plane (pods on a cluster): a
   * shutdown leaves them running, and the next control plane adopts them.
   * False or absent: a shutdown stops every instance (local processes).
   */
  readonly persistent?: boolean;
  /**
   * The revision should run `replicas` instances; the first call for a
   * revision creates it. Returns at once; what follows is reported by {@link instances}.
   */
  scale(revision: RevisionSpec, replicas: number, options?: ScaleOptions): void;
  /**
   * The revision's instances as they change (see {@link InstanceEvent}), from
   * the moment of this call (a subscriber registers before it returns). Ends
   * when `signal` aborts or once the revision is removed.
   */
  instances(revision: RevisionSpec, signal: AbortSignal): AsyncIterable<InstanceEvent>;
  /**
   * Stops every instance of the revision (calls in flight finish, up to
   * `drainMs`, default 30 s) and forgets it; resolves once they have ended
   * and their `gone` events were sent.
   */
  remove(revision: RevisionSpec, drainMs?: number): Promise<void>;
  /**
   * Removes what runs for revisions that `keep` says nobody wants any more:
   * left by an earlier control plane (a rollout it did not finish, a function
   * deleted while it was down). Only drivers whose instances outlive the
   * control plane (`persistent`) need it. Resolves with what it removed.
   */
  sweep?(keep: (revision: RevisionRef) => boolean): Promise<string[]>;
  /** Stops every instance of every revision (shutdown). */
  close(): Promise<void>;
}

/** A revision by name, as a driver finds it running. */
export interface RevisionRef {
  org: string;
  name: string;
  uid: string;
  generation: bigint;
}

/** Issues and checks instance credentials (`instance-credentials.ts` of the control plane). */
export interface InstanceCredentials {
  /** A new credential for one instance of the revision. */
  issue(revision: RevisionSpec): string;
}

/** What the control plane hands a driver it creates: see {@link DriverFactory}. */
export interface DriverHost {
  /** Issues the credentials instances take calls with (and pods fetch their bundle with). */
  credentials: InstanceCredentials;
  /** Unpacked bundles for workers on this machine (the local driver; others ignore it). */
  bundles: BundleSource;
  /** Receives every line workers write, for `dispatch logs`. */
  onLog(line: WorkerLogLine): void;
}

/** Bundles unpacked on this machine, held while a revision runs from them (`BundleCache`). */
export interface BundleSource {
  acquire(bundle: BundleRef): Promise<{ directory: string; release(): void }>;
  /** Removes unpacked bundles no revision holds (left by an earlier run). */
  sweep(): Promise<void>;
}

/**
 * Makes the driver of a control plane, given what only the control plane
 * has (the credential key, the source store, the log store).
 *
 * @example
 * startControlPlane({ ..., driver: (host) => createKubernetesDriver({ ...kube, credentials: host.credentials }) });
 */
export type DriverFactory = (host: DriverHost) => Driver | Promise<Driver>;
