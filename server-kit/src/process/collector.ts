import { setFlagsFromString } from "node:v8";

/** What {@link tuneCollectorForProxying} did. */
export type CollectorTuning =
  /** V8's allocation-site pretenuring is now off. */
  | "applied"
  /** Node was started with its own `--[no-]allocation-site-pretenuring`, which stands. */
  | "kept";

const pretenuringFlag = /--(no-)?allocation[-_]site[-_]pretenuring\b/;

/**
 * Sets V8's garbage collector up for a process that proxies requests: `dispatch
 * up`, which runs the embedded gateway, calls it once before it serves (and
 * the benchmarks that stand for it; decision 0010 says why the control plane
 * on its own does not).
 *
 * It turns off V8's allocation-site pretenuring. With it on, once most objects
 * of an allocation site (an object or array literal in some function) survive
 * a scavenge, V8 allocates that site's objects straight in the old
 * generation. A request's objects live for milliseconds, but the young
 * collector treats every pointer from the old generation as live until the
 * next full collection, so each old, already dead object keeps the young
 * objects it points at (a request's closures, buffers, headers) alive and
 * promotes them in turn; more sites then look long-lived. On the gateway this
 * loop promoted about 8 KiB per proxied call (166 MB in 20,000 calls, against
 * 21 MB with pretenuring off), and its scavenges took 3.5 times as long.
 * `bench/gateway` measures the effect. The price is paid by code that builds
 * large long-lived structures at once, such as the xds-server's translation
 * of 10,000 endpoints (`bench/xds-convergence`).
 *
 * Node started with its own `--allocation-site-pretenuring` or
 * `--no-allocation-site-pretenuring` (`node --allocation-site-pretenuring
 * $(which dispatch) up`; Node does not take V8 flags such as these from
 * `NODE_OPTIONS`) keeps it. V8 reads the flag at every collection, so setting
 * it after start takes effect at the next one.
 */
export function tuneCollectorForProxying(): CollectorTuning {
  if (process.execArgv.some((arg) => pretenuringFlag.test(arg))) return "kept";
  setFlagsFromString("--no-allocation-site-pretenuring");
  return "applied";
}
