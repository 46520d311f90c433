import type { IsolationChoice } from "@dispatch/control-plane";

/** The flags of `dispatch up`. */
export interface UpFlags {
  dataDir: string;
  host: string;
  port: number;
  natsUrl?: string;
  natsCreds?: string;
  natsTlsCa?: string;
  natsTlsCert?: string;
  natsTlsKey?: string;
  natsPort?: number;
  activatorPort?: number;
  gateway: "embedded" | "envoy";
  accessLog: boolean;
  envoyBin?: string;
  gatewayPort?: number;
  gatewayTlsPort?: number;
  gatewayTlsCert?: string;
  gatewayTlsKey?: string;
  xdsPort?: number;
  eventsPort?: number;
  eventsMaxAge: number;
  eventsMaxBytes: number;
  natsServerBin?: string;
  saveContext: string;
  runsMaxAge: number;
  runsPerFunction: number;
  maxBundleMib: number;
  maxUnpackedMib: number;
  maxBundleFiles: number;
  maxScaleMin: number;
  maxScaleMax: number;
  maxInstancesPerOrg: number;
  maxEndpointsPerOrg: number;
  maxSubscriptionsPerOrg: number;
  isolation: IsolationChoice;
}
