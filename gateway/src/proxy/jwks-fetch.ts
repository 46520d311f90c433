import * as http from "node:http";
import * as https from "node:https";
import type { JwksFetcher } from "../filters/jwks-cache.js";
import { pickEndpoint } from "../route-table/endpoints.js";
import type { GatewaySnapshot } from "../route-table/snapshot.js";
import type { UpstreamPools } from "./upstream-pool.js";

/** The largest JWKS document accepted. */
const maxJwksBytes = 1024 * 1024;

/**
 * Fetches a JWKS the way Envoy's `remote_jwks` does: a GET for the URI's path,
 * with the URI's host as Host, sent to an endpoint of the named cluster (over
 * TLS when the cluster has a TLS transport socket), bounded by the timeout.
 */
export function createJwksFetcher(snapshot: () => GatewaySnapshot, pools: UpstreamPools): JwksFetcher {
  return ({ uri, cluster: clusterName, timeoutMs }) => {
    const cluster = snapshot().clusters.get(clusterName);
    if (!cluster)
      return Promise.reject(new Error(`cluster ${JSON.stringify(clusterName)} is not configured`));
    const endpoint = pickEndpoint(
      cluster.endpoints,
      cluster.cluster.lbPolicy,
      pools.balancer(cluster.endpoints),
      Math.random,
      (e) => pools.inFlight(e),
    );
    if (!endpoint)
      return Promise.reject(new Error(`cluster ${JSON.stringify(clusterName)} has no healthy host`));
    const pool = pools.pool(cluster.cluster);
    const url = new URL(uri);
    const release = pools.begin(pool, endpoint);
    return new Promise<string>((resolve, reject) => {
      const request = (pool.tls ? https : http).request({
        agent: pool.agent,
        host: endpoint.address,
        port: endpoint.port,
        method: "GET",
        path: url.pathname + url.search,
        headers: { host: url.host, accept: "application/json" },
        setHost: false,
      });
      const timer = setTimeout(
        () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const fail = (error: Error) => {
        clearTimeout(timer);
        release();
        reject(error);
      };
      request.once("error", fail);
      request.once("response", (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          fail(new Error(`${uri} answered ${response.statusCode}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxJwksBytes) request.destroy(new Error(`${uri} is larger than ${maxJwksBytes} bytes`));
          else chunks.push(chunk);
        });
        response.once("end", () => {
          clearTimeout(timer);
          release();
          resolve(Buffer.concat(chunks).toString("utf8"));
        });
        response.once("error", fail);
      });
      request.end();
    });
  };
}
