import type {
  Driver,
  InstanceCredentials,
  InstanceEvent,
  InstanceExit,
  LeaderGate,
  RevisionRef,
  RevisionSpec,
  ScaleOptions,
} from "@dispatch/server-kit";
import { type Informer, type InformerChange, type KubeObject, startInformer } from "./informer.js";
import { type KubeApi, KubeApiError } from "./kube-api.js";
import { kubeletBackoffMs, podOfInstance, podView, readyEndpoints } from "./pod-view.js";
import {
  FIELD_MANAGER,
  labelKeys,
  MANAGED_BY,
  type RevisionObjectSettings,
  revisionDeployment,
  revisionName,
  revisionSecret,
  revisionService,
  TOKEN_KEY,
} from "./resources/revision-objects.js";

/** Options of {@link createKubernetesDriver}. */
export interface KubernetesDriverOptions extends RevisionObjectSettings {
  api: KubeApi;
  /** Issues the credential of a revision's instances (one per revision: a Deployment's pods share one spec). */
  credentials: InstanceCredentials;
  log?(message: string, error?: unknown): void;
  /** Backoff of failed writes: from `minMs` (default 500) doubling to `maxMs` (default 30 s). */
  retry?: { minMs?: number; maxMs?: number };
  /** How long `remove` waits for the pods to go beyond their drain time; default 60 s. */
  removeGraceMs?: number;
  /**
   * Among several control planes, only the leader writes to the cluster; the
   * others keep their informers warm. Default: this one always writes.
   */
  leader?: LeaderGate;
}

/** The Kubernetes driver, with what tests and status may read. */
export interface KubernetesDriver extends Driver {
  /** Resolves once the pods and EndpointSlices were listed: what runs is known. */
  readonly synced: Promise<void>;
  /** How many times its watches listed from scratch (first lists, `410 Gone`), for tests and status. */
  relists(): number;
}

/** What a subscriber of {@link Driver.instances} is told, queued until it reads. */
interface Subscriber {
  push(event: InstanceEvent): void;
  end(): void;
}

/** What the driver keeps of a revision it was told about. */
interface Revision {
  spec: RevisionSpec;
  name: string;
  /** The replicas asked for last, undefined before the first `scale`. */
  desired: number | undefined;
  /** Pods to stop (named in `scale`), and how long they may drain. */
  stops: Map<string, number>;
  subscribers: Set<Subscriber>;
  /** What subscribers were told of each instance id. */
  told: Map<string, "starting" | "ready" | "failed">;
  /** Problems already told, per instance id, so each is told once. */
  problems: Map<string, string>;
  /** Pods named to stop: their end is a stop, not a crash. */
  stopping: Set<string>;
  removing: boolean;
  /** The replicas last written through `/scale` by this driver. */
  written: number | undefined;
  /** The run of writes: one at a time per revision, the latest desired state wins. */
  writing: Promise<void> | undefined;
  /** The cluster refused a write (not a passing failure): nothing is tried again before the next `scale`. */
  refused: boolean;
  /** A standby's scale-up is on its way. */
  waking: boolean;
}

const isRetryable = (error: unknown): boolean =>
  !(error instanceof KubeApiError) || error.status >= 500 || error.status === 409 || error.status === 429;

/**
 * The Kubernetes driver (decision 0005): a revision is a Deployment of its
 * runtime image (`resources/revision-objects.ts`), with a headless Service
 * whose EndpointSlices list its pods and a Secret holding its credential and
 * environment, both owned by the Deployment. Writes are server-side applies
 * by one field manager; replicas go through `/scale`, so applying the
 * Deployment again never changes how many pods run. What runs is read from
 * two informers (pods and EndpointSlices of the namespace): an instance is a
 * pod's container incarnation, `starting` once the pod exists, `ready` once
 * its endpoint is ready, `gone` when it was deleted (stopped) or restarted by
 * the kubelet (crashed), and `failed` with the reason in plain words when it
 * is stuck (the image cannot be pulled, it keeps crashing, no node fits it).
 * Pods outlive the control plane (`persistent`): a new one adopts them.
 */
export function createKubernetesDriver(options: KubernetesDriverOptions): KubernetesDriver {
  const { api, namespace } = options;
  const log = options.log ?? (() => undefined);
  const revisions = new Map<string, Revision>();
  /** Revisions whose objects were applied by this driver, and their credential: scale from zero is one write. */
  const applied = new Map<string, string>();
  let closed = false;
  const changed = new Set<() => void>();
  const leads = () => options.leader?.isLeader() ?? true;
  // A new leader writes what its pools want: it may differ from what the last one wrote.
  const stopFollowing = options.leader?.onChange((leader) => {
    if (!leader) return;
    for (const revision of revisions.values()) {
      revision.written = undefined;
      write(revision);
    }
  });

  // What the informers hold, grouped by revision: a change looks at its revision's objects only.
  const podIndex = new Map<string, Map<string, KubeObject>>();
  const sliceIndex = new Map<string, Map<string, KubeObject>>();
  const podsOf = (name: string): KubeObject[] => [...(podIndex.get(name)?.values() ?? [])];
  const slicesOf = (name: string): KubeObject[] => [...(sliceIndex.get(name)?.values() ?? [])];
  const groupOf = (object: KubeObject, key: "pod" | "slice") => {
    const labels = object.metadata?.labels as Record<string, string> | undefined;
    return key === "pod" ? labels?.[labelKeys.revision] : labels?.["kubernetes.io/service-name"];
  };

  const onChange = (change: InformerChange, key: "pod" | "slice") => {
    const index = key === "pod" ? podIndex : sliceIndex;
    const objectName = String(change.object.metadata?.name ?? "");
    // Labels can change: the object leaves its old group before it joins the new one.
    const before = change.type === "modified" ? groupOf(change.previous, key) : undefined;
    const group = groupOf(change.object, key);
    for (const name of new Set([before, group])) {
      if (name === undefined) continue;
      const members = index.get(name) ?? new Map<string, KubeObject>();
      if (change.type !== "deleted" && name === group) members.set(objectName, change.object);
      else members.delete(objectName);
      if (members.size > 0) index.set(name, members);
      else index.delete(name);
      const revision = revisions.get(name);
      if (revision) tell(revision);
    }
    for (const wake of [...changed]) wake();
  };
  const pods: Informer = startInformer({
    api,
    path: `/api/v1/namespaces/${namespace}/pods`,
    labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}`,
    onChange: (change) => onChange(change, "pod"),
    log,
  });
  const slices: Informer = startInformer({
    api,
    path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
    labelSelector: "kubernetes.io/service-name",
    onChange: (change) => onChange(change, "slice"),
    log,
  });
  // The replicas each Deployment has now: a standby raises them to wake a function (see `wake`).
  const deployments: Informer = startInformer({
    api,
    path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
    labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY}`,
    onChange: (change) => {
      const revision = revisions.get(String(change.object.metadata?.name ?? ""));
      if (!revision) return;
      if (!leads()) {
        wake(revision);
        return;
      }
      // Replicas someone else set (a standby waking the function, or a person): the
      // leader takes them as its starting point and does not undo them; its pool
      // sees the pods, and stops them when they are idle.
      const observed = (change.object.spec as { replicas?: number } | undefined)?.replicas;
      if (
        change.type === "deleted" ||
        revision.writing ||
        observed === undefined ||
        observed === revision.written
      )
        return;
      revision.written = observed;
      if ((revision.desired ?? 0) > observed) write(revision);
    },
    log,
  });
  const synced = Promise.all([pods.synced, slices.synced, deployments.synced]).then(() => undefined);
  let isSynced = false;
  void synced.then(() => {
    isSynced = true;
    for (const revision of revisions.values()) tell(revision);
  });

  function revisionOf(spec: RevisionSpec): Revision {
    const name = revisionName(spec);
    let revision = revisions.get(name);
    if (!revision) {
      revision = {
        spec,
        name,
        desired: undefined,
        stops: new Map(),
        subscribers: new Set(),
        told: new Map(),
        problems: new Map(),
        stopping: new Set(),
        removing: false,
        written: undefined,
        writing: undefined,
        refused: false,
        waking: false,
      };
      revisions.set(name, revision);
    }
    return revision;
  }

  /** Forgets a revision nobody follows and nothing runs for. */
  function forgetIfIdle(revision: Revision): void {
    if (revision.subscribers.size > 0 || (revision.desired ?? 0) > 0 || revision.writing) return;
    if (revision.removing || revision.told.size > 0) return;
    revisions.delete(revision.name);
  }

  function broadcast(revision: Revision, event: InstanceEvent): void {
    for (const subscriber of revision.subscribers) subscriber.push(event);
  }

  /**
   * Compares what runs (pods, ready endpoints) with what subscribers were
   * told, and tells them the difference, in order: an instance is told
   * `starting` before `ready`, and `gone` once.
   */
  function tell(revision: Revision): void {
    if (!isSynced) return;
    const ready = readyEndpoints(slicesOf(revision.name));
    const current = new Map<string, ReturnType<typeof podView>>();
    for (const pod of podsOf(revision.name)) {
      const view = podView(pod);
      current.set(view.id, view);
      // A restarted container: its previous incarnation crashed.
      for (const [id] of revision.told) {
        if (id !== view.id && podOfInstance(id) === view.name) {
          const exit: InstanceExit = view.lastExit ?? { code: null, signal: null, stopped: false };
          revision.told.delete(id);
          revision.problems.delete(id);
          broadcast(revision, { type: "gone", id, exit, restartInMs: kubeletBackoffMs(view.restarts) });
        }
      }
    }
    // Pods that are no more: stopped, unless they were never asked to go (evicted, or deleted by someone).
    for (const [id] of revision.told) {
      if (current.has(id)) continue;
      const pod = podOfInstance(id);
      revision.told.delete(id);
      revision.problems.delete(id);
      revision.stopping.delete(pod);
      broadcast(revision, { type: "gone", id, exit: { code: 0, signal: null, stopped: true } });
    }
    for (const [id, view] of current) {
      const told = revision.told.get(id);
      if (told === undefined) {
        if (view.terminating) continue;
        revision.told.set(id, "starting");
        broadcast(revision, { type: "starting", id });
      }
      const endpoint = ready.get(view.name);
      const token =
        endpoint && !view.terminating && revision.told.get(id) !== "ready" ? tokenOf(revision) : undefined;
      if (endpoint && token !== undefined) {
        revision.told.set(id, "ready");
        revision.problems.delete(id);
        broadcast(revision, { type: "ready", instance: { id, url: endpoint.url, token } });
      } else if (
        view.problem &&
        revision.told.get(id) !== "ready" &&
        revision.problems.get(id) !== view.problem
      ) {
        revision.problems.set(id, view.problem);
        revision.told.set(id, "failed");
        broadcast(revision, {
          type: "failed",
          id,
          error: new Error(view.problem),
          restartInMs: kubeletBackoffMs(view.restarts + 1),
        });
      }
    }
    if (revision.removing && current.size === 0)
      for (const subscriber of revision.subscribers) subscriber.end();
  }

  /** Credentials being read back from their Secret, by revision name. */
  const reading = new Set<string>();

  /**
   * The credential of a revision's pods, when known: the one this driver
   * applied, else (pods another replica or an earlier run started) the one
   * read back from the revision's Secret, which is fetched once and then told.
   */
  function tokenOf(revision: Revision): string | undefined {
    const token = applied.get(revision.name);
    if (token !== undefined || reading.has(revision.name)) return token;
    reading.add(revision.name);
    void credentialOf(revision, false).then(
      (found) => {
        reading.delete(revision.name);
        if (found !== undefined && !applied.has(revision.name)) applied.set(revision.name, found);
        if (found !== undefined) tell(revision);
      },
      (err: unknown) => {
        reading.delete(revision.name);
        log(`reading the credential of ${revision.name}`, err);
      },
    );
    return undefined;
  }

  /** The revision's credential: the one its Secret holds (pods adopted after a restart use it), else a new one. */
  async function credentialOf(revision: Revision, issue: true): Promise<string>;
  async function credentialOf(revision: Revision, issue: false): Promise<string | undefined>;
  async function credentialOf(revision: Revision, issue: boolean): Promise<string | undefined> {
    try {
      const secret = await api.request<{ data?: Record<string, string> }>({
        method: "GET",
        path: `/api/v1/namespaces/${namespace}/secrets/${revision.name}`,
      });
      const token = secret.data?.[TOKEN_KEY];
      if (token) return Buffer.from(token, "base64").toString("utf8");
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
    return issue ? options.credentials.issue(revision.spec) : undefined;
  }

  const apply = (path: string, body: unknown) =>
    api.request<KubeObject>({
      method: "PATCH",
      path,
      query: { fieldManager: FIELD_MANAGER, force: true },
      body,
      contentType: "application/apply-patch+yaml",
    });

  /** Applies the revision's Secret, Deployment and Service (the Secret first: pods need it to start). */
  async function ensureObjects(revision: Revision): Promise<void> {
    if (applied.has(revision.name)) return;
    const token = await credentialOf(revision, true);
    const base = `/api/v1/namespaces/${namespace}`;
    await apply(`${base}/secrets/${revision.name}`, revisionSecret(revision.spec, token, options));
    const deployment = await apply(
      `/apis/apps/v1/namespaces/${namespace}/deployments/${revision.name}`,
      revisionDeployment(revision.spec, options),
    );
    const owner = { uid: String(deployment.metadata?.uid ?? "") };
    await Promise.all([
      apply(`${base}/services/${revision.name}`, revisionService(revision.spec, options, owner)),
      apply(`${base}/secrets/${revision.name}`, revisionSecret(revision.spec, token, options, owner)),
    ]);
    applied.set(revision.name, token);
    tell(revision);
  }

  async function writeScale(revision: Revision, replicas: number): Promise<void> {
    await api.request({
      method: "PATCH",
      path: `/apis/apps/v1/namespaces/${namespace}/deployments/${revision.name}/scale`,
      query: { fieldManager: FIELD_MANAGER },
      body: { spec: { replicas } },
      contentType: "application/merge-patch+json",
    });
  }

  /** Stops named pods: the cheapest to delete on a scale down, deleted outright when the replicas stay. */
  async function stopPods(revision: Revision, lowering: boolean): Promise<void> {
    const stops = [...revision.stops];
    revision.stops.clear();
    await Promise.all(
      stops.map(async ([pod, drainMs]) => {
        revision.stopping.add(pod);
        const path = `/api/v1/namespaces/${namespace}/pods/${pod}`;
        try {
          if (lowering) {
            await api.request({
              method: "PATCH",
              path,
              query: { fieldManager: FIELD_MANAGER },
              body: { metadata: { annotations: { "controller.kubernetes.io/pod-deletion-cost": "-1000" } } },
              contentType: "application/merge-patch+json",
            });
          } else {
            await api.request({
              method: "DELETE",
              path,
              query: { gracePeriodSeconds: Math.ceil(drainMs / 1000) },
            });
          }
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 404)) throw err;
        }
      }),
    );
  }

  /**
   * A standby's part: it never creates, changes or scales down what the
   * leader manages, but a function it must serve a call for may be at fewer
   * replicas than its pool wants (at zero): then it raises the Deployment's
   * replicas, as the leader's own pool would for a waiting caller. The
   * leader's pool sees the new pods (it follows every revision), and stops
   * them when they are idle by every replica's calls (the workers' reports).
   */
  function wake(revision: Revision): void {
    const desired = revision.desired ?? 0;
    const replicas = (deployments.get(revision.name)?.spec as { replicas?: number } | undefined)?.replicas;
    if (revision.waking || closed || revision.removing || replicas === undefined || desired <= replicas)
      return;
    revision.waking = true;
    void writeScale(revision, desired)
      .catch((err: unknown) => log(`waking ${revision.name}`, err))
      .finally(() => {
        revision.waking = false;
      });
  }

  /** Brings the cluster to the revision's latest desired state, retrying what fails; one run per revision at a time. */
  function write(revision: Revision): void {
    if (!leads()) {
      wake(revision);
      return;
    }
    if (revision.writing || closed || revision.refused) return;
    const run = async () => {
      let delay = options.retry?.minMs ?? 500;
      while (!closed && !revision.removing && !settled(revision) && leads()) {
        const desired = revision.desired ?? 0;
        const written = revision.written;
        try {
          await ensureObjects(revision);
          if (revision.stops.size > 0) await stopPods(revision, written === undefined || desired < written);
          if (written !== desired) {
            await writeScale(revision, desired);
            revision.written = desired;
          }
          delay = options.retry?.minMs ?? 500;
        } catch (err) {
          if (!isRetryable(err)) {
            revision.refused = true;
            broadcast(revision, {
              type: "failed",
              id: revision.name,
              error: new Error(`the cluster refused the function's Deployment: ${(err as Error).message}`),
            });
            return;
          }
          log(`writing ${revision.name}`, err);
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
          delay = Math.min(options.retry?.maxMs ?? 30_000, delay * 2);
        }
      }
    };
    revision.writing = run().finally(() => {
      revision.writing = undefined;
      // A scale asked for while the last write was settling.
      if (!settled(revision) && !revision.removing && !revision.refused) write(revision);
      else forgetIfIdle(revision);
    });
  }

  /** True when the cluster was told the revision's latest desired state. */
  function settled(revision: Revision): boolean {
    return revision.written === (revision.desired ?? 0) && revision.stops.size === 0;
  }

  /** Resolves once `done()` holds, checked on every change the informers see, or after `ms`. */
  function waitFor(done: () => boolean, ms: number): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(false), ms);
      timer.unref();
      const check = () => {
        if (done()) finish(true);
      };
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        changed.delete(check);
        resolve(ok);
      };
      changed.add(check);
    });
  }

  return {
    name: "kubernetes",
    isolation: {
      mode: "pod",
      summary:
        "each instance is a pod of the function's runtime image (restricted security context, no API token)",
      warning: undefined,
    },
    persistent: true,
    synced,
    relists: () => pods.relists() + slices.relists() + deployments.relists(),

    scale(spec: RevisionSpec, replicas: number, scaleOptions?: ScaleOptions): void {
      if (closed) return;
      const revision = revisionOf(spec);
      revision.desired = replicas;
      revision.refused = false;
      for (const id of scaleOptions?.stop ?? []) {
        revision.stops.set(podOfInstance(id), scaleOptions?.drainMs ?? 30_000);
      }
      write(revision);
    },

    instances(spec: RevisionSpec, signal: AbortSignal): AsyncIterable<InstanceEvent> {
      const revision = revisionOf(spec);
      const queue: InstanceEvent[] = [];
      let ended = false;
      let wake: (() => void) | undefined;
      const subscriber: Subscriber = {
        push(event) {
          queue.push(event);
          wake?.();
        },
        end() {
          ended = true;
          wake?.();
        },
      };
      // What subscribers were told already, replayed for this one (registered before this call returns).
      for (const [id, told] of revision.told) {
        subscriber.push({ type: "starting", id });
        if (told === "ready") {
          const endpoint = readyEndpoints(slicesOf(revision.name)).get(podOfInstance(id));
          const token = applied.get(revision.name);
          if (endpoint && token !== undefined)
            subscriber.push({ type: "ready", instance: { id, url: endpoint.url, token } });
        }
      }
      revision.subscribers.add(subscriber);
      const stop = () => subscriber.end();
      signal.addEventListener("abort", stop, { once: true });
      tell(revision);
      return {
        async *[Symbol.asyncIterator]() {
          try {
            while (true) {
              const event = queue.shift();
              if (event) {
                yield event;
                continue;
              }
              if (ended || closed) return;
              await new Promise<void>((resolve) => {
                wake = resolve;
              });
              wake = undefined;
            }
          } finally {
            signal.removeEventListener("abort", stop);
            revision.subscribers.delete(subscriber);
            forgetIfIdle(revision);
          }
        },
      };
    },

    async remove(spec: RevisionSpec, drainMs = 30_000): Promise<void> {
      const revision = revisionOf(spec);
      revision.removing = true;
      revision.desired = 0;
      await revision.writing;
      if (!leads()) {
        for (const subscriber of revision.subscribers) subscriber.end();
        revisions.delete(revision.name);
        return;
      }
      try {
        await api.request({
          method: "DELETE",
          path: `/apis/apps/v1/namespaces/${namespace}/deployments/${revision.name}`,
          query: { propagationPolicy: "Background" },
        });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) log(`deleting ${revision.name}`, err);
      }
      applied.delete(revision.name);
      const gone = await waitFor(
        () => podsOf(revision.name).length === 0,
        drainMs + (options.removeGraceMs ?? 60_000),
      );
      if (!gone)
        log(`the pods of ${revision.name} are still there after their drain time; not waiting longer`);
      tell(revision);
      for (const subscriber of revision.subscribers) subscriber.end();
      revisions.delete(revision.name);
    },

    async sweep(keep: (revision: RevisionRef) => boolean): Promise<string[]> {
      if (closed || !leads()) return [];
      await synced;
      const removed: string[] = [];
      for (const deployment of deployments.list()) {
        const name = String(deployment.metadata?.name ?? "");
        // A revision a pool follows is wanted, whatever the annotations say.
        if ((revisions.get(name)?.subscribers.size ?? 0) > 0) continue;
        const ref = revisionRefOf(deployment);
        if (ref && keep(ref)) continue;
        try {
          await api.request({
            method: "DELETE",
            path: `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`,
            query: { propagationPolicy: "Background" },
          });
          applied.delete(name);
          removed.push(name);
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 404)) log(`removing ${name}`, err);
        }
      }
      return removed;
    },

    async close(): Promise<void> {
      closed = true;
      stopFollowing?.();
      pods.close();
      slices.close();
      deployments.close();
      for (const revision of revisions.values())
        for (const subscriber of revision.subscribers) subscriber.end();
      await Promise.all([...revisions.values()].map((r) => r.writing));
    },
  };
}

/** Which revision a Deployment of the driver runs, from its annotations; undefined when they are not all there. */
function revisionRefOf(deployment: KubeObject): RevisionRef | undefined {
  const annotations = (deployment.metadata?.annotations ?? {}) as Record<string, string>;
  const org = annotations["dispatch.dev/org"];
  const name = annotations["dispatch.dev/function"];
  const uid = annotations["dispatch.dev/function-uid"];
  const generation = annotations["dispatch.dev/generation"];
  if (!org || !name || !uid || !generation || !/^\d+$/.test(generation)) return undefined;
  return { org, name, uid, generation: BigInt(generation) };
}
