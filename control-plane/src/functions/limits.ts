/**
 * What one installation lets functions use: bundle size on disk, scale, and
 * running instances per org. A function past a limit is refused at create
 * (scale) or is ERROR with the limit named in its status (bundle); an org at
 * its instance quota starts no more instances until one stops.
 */
export interface FunctionLimits {
  /** Largest unpacked bundle; default 256 MiB. Checked while unpacking, so a bomb stops early. */
  maxUnpackedBytes: number;
  /** Most entries (files, directories, links) in a bundle; default 10,000. */
  maxBundleFiles: number;
  /** Largest `scale.min` of a function; default 20. */
  maxScaleMin: number;
  /** Largest `scale.max` of a function; default 100. */
  maxScaleMax: number;
  /** Most instances running (or starting) at once across the functions of one org; default 50. */
  maxInstancesPerOrg: number;
}

/** The built-in limits. */
export const defaultFunctionLimits: FunctionLimits = {
  maxUnpackedBytes: 256 * 1024 * 1024,
  maxBundleFiles: 10_000,
  maxScaleMin: 20,
  maxScaleMax: 100,
  maxInstancesPerOrg: 50,
};

/** "256 MiB", "1.5 MiB", "12 KiB", "100 bytes" (one formatter for every size message). */
export { formatBytes } from "@dispatch/runtimes/bundle";
