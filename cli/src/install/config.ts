/**
 * What `dispatch install` installs, as the user states it in an install
 * config file (`-f config.yaml`) and flags, once defaults are applied and every
 * value is checked (`config-schema.ts`). The renderer reads only this.
 */

/** CPU and memory quantities, as Kubernetes writes them ("250m", "512Mi"). */
export interface ResourceAmounts {
  cpu: string;
  memory: string;
}

/** A container's requests and limits. */
export interface Resources {
  requests: ResourceAmounts;
  limits: ResourceAmounts;
}

/** How a Service is reached from outside the cluster. */
export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer";

/** When the kubelet pulls an image. */
export type PullPolicy = "IfNotPresent" | "Always" | "Never";

/** A Deployment of one platform component. */
export interface ComponentConfig {
  replicas: number;
  resources: Resources;
}

/** The resolved install configuration: every field set, every value checked. */
export interface InstallConfig {
  /** The namespace everything is installed in (created if missing). */
  namespace: string;
  /** The cluster's DNS domain, for the names of pods and Services (`<svc>.<ns>.svc.<domain>`). */
  clusterDomain: string;
  /**
   * Public host names that reach the gateway (Envoy): named on its Service for
   * external-dns, and given to the xds-server for endpoints that name no hosts.
   * Empty: any host.
   */
  hosts: string[];
  images: {
    /** Where the Dispatch images are (`<registry>/control-plane:<tag>`, ...): a registry and path, no trailing slash. */
    registry: string;
    /** The tag of every Dispatch image; default the CLI's own version. */
    tag: string;
    pullPolicy: PullPolicy;
    /** Secrets in the namespace that let the kubelet pull from a private registry. */
    pullSecrets: string[];
    /** The NATS server image (a full reference). */
    nats: string;
    /** The Envoy image (a full reference). */
    envoy: string;
  };
  controlPlane: ComponentConfig & { serviceType: ServiceType };
  xdsServer: ComponentConfig;
  eventBroker: ComponentConfig & { serviceType: ServiceType };
  envoy: ComponentConfig & { serviceType: ServiceType; port: number };
  nats: ComponentConfig & {
    storage: {
      /** The StorageClass of NATS' volumes; empty: the cluster's default. */
      className: string;
      size: string;
    };
  };
  functions: {
    /**
     * Whether function pods may open connections to addresses outside the
     * private ranges (the internet). Inside the cluster they reach only the
     * control plane's API port (bundle download) and DNS, whatever this says.
     */
    internetEgress: boolean;
  };
}
