import type { InstallConfig } from "./config.js";
import { type Component, components } from "./labels.js";

/** The image of each Dispatch program: `<registry>/<name>:<tag>`. */
export interface DispatchImages {
  controlPlane: string;
  xdsServer: string;
  eventBroker: string;
  /** The runtime images function pods run (`deploy/runtime/Dockerfile.*`). */
  runtimeNodejs: string;
  runtimePython3: string;
}

/** What every object builder needs: the config, and names derived from it once. */
export interface RenderContext {
  config: InstallConfig;
  namespace: string;
  /** The version label of Dispatch's own components (the image tag). */
  version: string;
  images: DispatchImages;
  /** A Service's DNS name inside the cluster: `<name>.<namespace>.svc.<cluster domain>`. */
  serviceHost(name: string): string;
  /** A component's Service's DNS name. */
  componentHost(component: Component): string;
}

/** Derives the names every builder shares from a resolved config. */
export function createRenderContext(config: InstallConfig): RenderContext {
  const { registry, tag } = config.images;
  const serviceHost = (name: string) => `${name}.${config.namespace}.svc.${config.clusterDomain}`;
  return {
    config,
    namespace: config.namespace,
    version: tag,
    images: {
      controlPlane: `${registry}/control-plane:${tag}`,
      xdsServer: `${registry}/xds-server:${tag}`,
      eventBroker: `${registry}/event-broker:${tag}`,
      runtimeNodejs: `${registry}/runtime-nodejs:${tag}`,
      runtimePython3: `${registry}/runtime-python3:${tag}`,
    },
    serviceHost,
    componentHost: (component) => serviceHost(components[component].name),
  };
}
