import type { NatsHealth } from "@dispatch/server-kit";
import type { Functions } from "./functions/functions.js";
import type { Component } from "./services/system-service.js";

/** What {@link listComponents} reports on. */
export interface ComponentsOptions {
  /** The API's URL (known once it listens). */
  apiUrl(): string;
  functions: Functions;
  /** The NATS servers, without credentials. */
  natsUrl: string;
  natsHealth: NatsHealth;
  /** Other components of the installation (`dispatch up` adds its own). */
  others?: () => readonly Component[];
}

/**
 * The components of the installation as `dispatch status` shows them: the
 * API, the activator, the driver with what it runs, the isolation of workers,
 * NATS with its connection state, and any others.
 */
export function listComponents(options: ComponentsOptions): () => Component[] {
  const { functions, natsHealth } = options;
  return () => [
    { name: "api", url: options.apiUrl() },
    { name: "activator", url: functions.activator.url },
    {
      name: "driver",
      url: functions.driverName,
      describe: () => {
        const { functions: count, instances } = functions.scheduler.summary();
        return `${count} function${count === 1 ? "" : "s"}, ${instances} instance${instances === 1 ? "" : "s"} running`;
      },
    },
    ...(functions.isolation
      ? [{ name: "isolation", url: functions.isolation.mode, describe: () => isolationLine(functions) }]
      : []),
    { name: "nats", url: options.natsUrl, check: () => natsHealth.problem() },
    ...(options.others?.() ?? []),
  ];
}

/** The isolation line of `dispatch status`: what isolates functions, and the warning when it is weak. */
function isolationLine(functions: Functions): string {
  const { summary, warning } = functions.isolation ?? { summary: "", warning: undefined };
  return warning ? `${summary}. WARNING: ${warning}` : summary;
}
