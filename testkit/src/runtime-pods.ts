import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseWorkerLine, type Runtime, runtimesDir, workerCommand } from "@dispatch/runtimes";
import type { PodProcess, PodRunner } from "./fake-kube/cluster/kubelet.js";
import type { JsonObject } from "./fake-kube/json.js";

/** What {@link runtimePodRunner} reads Secrets from: the fake API server's store. */
export interface SecretReader {
  get(resource: string, namespace: string, name: string): JsonObject | undefined;
}

/** Options of {@link runtimePodRunner}. */
export interface RuntimePodRunnerOptions {
  /** Every line a pod's worker (or its bundle fetch) writes, for debugging a test. */
  onLine?(pod: string, line: string): void;
}

interface EnvVar {
  name?: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name?: string; key?: string };
    fieldRef?: { fieldPath?: string };
  };
}

/**
 * A pod runner for the fake API server's kubelet that runs a function pod
 * as the runtime image would (deploy/runtime/dispatch-runtime.sh): the
 * container's environment resolved as a kubelet does (values, Secret keys,
 * the pod's name), the bundle fetched from the control plane with the
 * pod's credential and verified by `dispatch-fetch-bundle`, then the real
 * worker of the runtime. Only the addresses differ: a local process cannot
 * listen on the pod's port, so the worker takes a free loopback port, which
 * the kubelet puts in the pod's EndpointSlice; `/function` is a temp dir.
 * A fetch that fails, or a worker that does not start, is a container that
 * failed to start (the runner throws); a worker that exits is a crash.
 */
export function runtimePodRunner(secrets: SecretReader, options: RuntimePodRunnerOptions = {}): PodRunner {
  return async (pod): Promise<PodProcess> => {
    const metadata = pod.metadata as { name?: string; namespace?: string };
    const name = String(metadata.name);
    const namespace = String(metadata.namespace ?? "default");
    const container = ((pod.spec as { containers?: JsonObject[] }).containers ?? [])[0] ?? {};
    const env: Record<string, string> = {};
    for (const variable of (container.env as EnvVar[] | undefined) ?? []) {
      if (!variable.name) continue;
      const ref = variable.valueFrom?.secretKeyRef;
      if (ref) {
        const secret = secrets.get("secrets", namespace, String(ref.name));
        const data = (secret?.data ?? {}) as Record<string, string>;
        const value = data[String(ref.key)];
        // As a kubelet: a missing Secret or key keeps the container from being created.
        if (value === undefined)
          throw new Error(`CreateContainerConfigError: secret "${ref.name}" has no key "${ref.key}"`);
        env[variable.name] = Buffer.from(value, "base64").toString("utf8");
      } else if (variable.valueFrom?.fieldRef?.fieldPath === "metadata.name") {
        env[variable.name] = name;
      } else {
        env[variable.name] = variable.value ?? "";
      }
    }
    const directory = await mkdtemp(join(tmpdir(), "dispatch-pod-"));
    const base: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: directory,
      ...env,
      DISPATCH_FUNCTION_DIR: join(directory, "function"),
      DISPATCH_HOST: "127.0.0.1",
      DISPATCH_PORT: "0",
    };
    const lines = (child: ChildProcess) => {
      for (const stream of [child.stdout, child.stderr]) {
        if (!stream) continue;
        createInterface({ input: stream }).on("line", (line) => options.onLine?.(name, line));
      }
    };
    const cleanUp = () => rm(directory, { recursive: true, force: true });

    // The bundle, as the image's entry point fetches it.
    if (env.DISPATCH_BUNDLE_DIGEST) {
      const fetcher = spawn(process.execPath, [join(runtimesDir, "dist/src/bundle/fetch-bundle-main.js")], {
        env: base,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let said = "";
      fetcher.stderr?.on("data", (chunk: Buffer) => {
        said += chunk.toString("utf8");
      });
      const code = await new Promise<number | null>((resolve) => fetcher.on("exit", resolve));
      if (code !== 0) {
        await cleanUp();
        throw new Error(`the bundle fetch failed: ${said.trim() || `exit code ${code}`}`);
      }
    }

    const runtime = (env.DISPATCH_RUNTIME ?? "nodejs") as Runtime;
    const command = workerCommand(runtime);
    // A lifeline (runtimes/CONTRACT.md): the worker drains and exits when this process dies,
    // so a test killed at its timeout leaves no worker behind.
    const child = spawn(command.command, command.args, {
      env: { ...base, DISPATCH_LIFELINE_FD: "3" },
      cwd: String(base.DISPATCH_FUNCTION_DIR),
      stdio: ["ignore", "pipe", "pipe", "pipe"],
    });
    (child.stdio[3] as NodeJS.WritableStream | null)?.on("error", () => {});
    const exited = new Promise<{ exitCode: number; reason?: string }>((resolve) => {
      child.on("exit", (code, signal) => {
        void cleanUp();
        resolve({
          exitCode: code ?? (signal ? 137 : 1),
          ...(signal ? { reason: `killed by ${signal}` } : {}),
        });
      });
    });
    const port = await new Promise<number>((resolve, reject) => {
      let loadError = "";
      const reader = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      reader.on("line", (line) => {
        const parsed = parseWorkerLine(line);
        if (parsed?.kind === "ready") resolve(parsed.port);
      });
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on("line", (line) => {
        const parsed = parseWorkerLine(line);
        if (parsed?.kind === "load-error") loadError = parsed.message;
      });
      void exited.then(({ exitCode }) =>
        reject(new Error(loadError || `the worker exited with code ${exitCode} before it was ready`)),
      );
    });
    lines(child);
    return {
      ip: "127.0.0.1",
      port,
      exited: exited.then((exit) => exit),
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
        await exited;
      },
    };
  };
}
