import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { createDispatchClients, createDispatchTransport } from "@dispatch/client";
import { type Gateway, startGateway } from "@dispatch/gateway";
import { LISTENER_TYPE_URL } from "@dispatch/proto/envoy";
import { bearerToken } from "@dispatch/server-kit";
import { type AckEvent, type IngressController, startIngressController } from "@dispatch/xds-server";
import { clientVersion } from "../version.js";
import { envoyNodeId, startEnvoy } from "./envoy.js";
import { UpError } from "./up-error.js";

/** Options of {@link startUpIngress}. */
export interface UpIngressOptions {
  /** The control plane's API URL. */
  apiUrl: string;
  /** The activator's URL (an IP address: EDS does not resolve names). */
  activatorUrl: string;
  /** The component token (reads the API, writes endpoint status, calls the activator). */
  componentToken: string;
  /** The token the gateway presents to the xds-server. */
  xdsNodeToken: string;
  /** Interface and port of the gateway's HTTP listener (0: a free port), and its HTTPS one if any. */
  gateway: { host: string; port: number; tls?: { port: number; cert: Buffer; key: Buffer } };
  /** Port of the xds-server on 127.0.0.1 (0: a free port). */
  xdsPort: number;
  /** Whether the gateway writes an access log line per request (JSON, on stdout). */
  accessLog: boolean;
  /** The data plane: the embedded gateway, or Envoy (this binary) programmed the same way. */
  dataPlane: { kind: "embedded" } | { kind: "envoy"; bin: string; dataDir: string };
  log(line: string): void;
}

/** The ingress of `dispatch up`: the xds-server (fed by the API) and the embedded gateway it programs. */
export interface UpIngress {
  urls: { gateway: string; gatewayTls?: string; xds: string };
  controller: IngressController;
  /** The embedded gateway, unless Envoy serves. */
  gateway: Gateway | undefined;
  stop(): Promise<void>;
}

/** The node id the embedded gateway has at the xds-server (what endpoint status names). */
export const gatewayNodeId = "dispatch-up-gateway";

/**
 * Starts the ingress: the xds-server as a controller of the API (Endpoints
 * and Functions through watch caches, endpoint status written back), serving
 * ADS on 127.0.0.1 to clients with the node token; then the embedded gateway
 * as its Delta ADS client. Every call goes through the activator, which
 * records the Run and passes the function's secrets (decision 0006).
 */
export async function startUpIngress(options: UpIngressOptions): Promise<UpIngress> {
  const activator = new URL(options.activatorUrl);
  const activatorHost = activator.hostname.replace(/^\[|\]$/g, "");
  if (isIP(activatorHost) === 0) {
    throw new Error(`the activator must listen on an IP address, not "${activatorHost}"`);
  }
  let onListenerAck: (event: AckEvent) => void = () => {};
  const clients = createDispatchClients(
    createDispatchTransport({
      server: options.apiUrl,
      token: options.componentToken,
      userAgent: `dispatch-xds-server/${clientVersion()}`,
    }),
  );
  const controller = await startIngressController({
    clients,
    xds: {
      host: "127.0.0.1",
      port: options.xdsPort,
      authenticate: (metadata) => {
        const [value] = metadata.get("authorization");
        const token = typeof value === "string" ? bearerToken(value) : undefined;
        return token !== undefined && sameSecret(token, options.xdsNodeToken);
      },
      translation: {
        activator: { host: activatorHost, port: Number(activator.port), token: options.componentToken },
        warmPath: "activator",
        listener: { host: options.gateway.host, port: options.gateway.port },
      },
    },
    publicUrls: publicUrls(options.gateway, options.dataPlane.kind === "embedded"),
    onAck: (event) => onListenerAck(event),
    onNack: (event) => options.log(`xds-server: ${event.node.id} refused ${event.typeUrl}: ${event.message}`),
    log: (message, error) =>
      options.log(`xds-server: ${message}${error === undefined ? "" : `: ${describe(error)}`}`),
  });
  const firstAck = new Map<string, () => void>();
  const acked = (nodeId: string) =>
    new Promise<void>((resolve) => {
      firstAck.set(nodeId, resolve);
    });
  onListenerAck = (event) => {
    if (event.typeUrl === LISTENER_TYPE_URL) firstAck.get(event.node.id)?.();
  };
  try {
    await controller.synced;
    if (options.dataPlane.kind === "envoy") {
      if (options.gateway.tls) {
        options.log(
          "envoy: the HTTPS listener is for the embedded gateway only; Envoy serves plain HTTP here",
        );
      }
      const ready = acked(envoyNodeId);
      const envoy = await startEnvoy({
        bin: options.dataPlane.bin,
        dataDir: options.dataPlane.dataDir,
        xdsPort: controller.xds.port,
        nodeToken: options.xdsNodeToken,
        log: options.log,
      });
      const outcome = await Promise.race([
        ready.then(() => "ready" as const),
        envoy.exited.then((code) => ({ code })),
      ]);
      if (outcome !== "ready") {
        throw new UpError(
          `envoy exited (code ${outcome.code}) before it took its configuration; its output is above`,
        );
      }
      const url = `http://${hostForUrl(publicHost(options.gateway.host))}:${options.gateway.port}`;
      return {
        urls: { gateway: url, xds: controller.xds.address },
        controller,
        gateway: undefined,
        async stop() {
          await envoy.stop();
          await controller.close();
        },
      };
    }
    const gateway = await startGateway({
      ads: { address: controller.xds.address, nodeId: gatewayNodeId, token: options.xdsNodeToken },
      listen: { host: options.gateway.host, port: options.gateway.port },
      ...(options.gateway.tls ? { listenTls: { host: options.gateway.host, ...options.gateway.tls } } : {}),
      ...(options.accessLog ? {} : { accessLog: false as const }),
      log: (message, error) =>
        options.log(`gateway: ${message}${error === undefined ? "" : `: ${describe(error)}`}`),
    });
    await gateway.ready();
    return {
      urls: {
        gateway: gateway.url,
        ...(gateway.tlsUrl ? { gatewayTls: gateway.tlsUrl } : {}),
        xds: controller.xds.address,
      },
      controller,
      gateway,
      async stop() {
        await gateway.close(5_000);
        await controller.close();
      },
    };
  } catch (err) {
    await controller.close();
    throw err;
  }
}

/** Where users reach the gateway (a wildcard bind address is shown as loopback). */
function publicUrls(gateway: UpIngressOptions["gateway"], tls: boolean): string[] {
  const shown = hostForUrl(publicHost(gateway.host));
  return [
    `http://${shown}:${gateway.port}`,
    ...(gateway.tls && tls ? [`https://${shown}:${gateway.tls.port}`] : []),
  ];
}

function publicHost(host: string): string {
  return host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
}

function hostForUrl(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

/** Compares two secrets in constant time (their digests, so lengths leak nothing either). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash("sha256").update(value).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
