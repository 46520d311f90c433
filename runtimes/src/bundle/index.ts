/**
 * Function bundles, wherever they are unpacked: the capped unpacker the
 * control plane uses for its own workers, and the fetch a pod makes to get
 * its bundle from the control plane (`GET /bundles/<digest>` with the
 * instance's credential), verified by digest before anything is unpacked.
 * A subpath of its own (`@dispatch/runtimes/bundle`): the workers never load it.
 */

export {
  BUNDLES_PATH,
  BundleDigestError,
  BundleFetchError,
  type FetchBundleOptions,
  fetchBundle,
} from "./fetch-bundle.js";
export {
  type BundleFormat,
  BundleLimitError,
  type BundleLimits,
  bundleFileName,
  formatBytes,
  unpackBundle,
} from "./unpack-bundle.js";
