#!/usr/bin/env node
/**
 * `dispatch-fetch-bundle`: fetches an instance's bundle from the control
 * plane before its worker starts, for instances that run elsewhere (a pod's
 * init container, on the runtime image). Everything comes from the
 * environment (CONTRACT.md "Bundles for instances that run elsewhere");
 * it exits 0 once the bundle is verified and unpacked, else 1 with the reason
 * on stderr.
 */

import { fetchBundle } from "./fetch-bundle.js";

function required(name: string): string {
  const value = process.env[name]?.trim();
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function count(name: string, fallback: number): number {
  const text = process.env[name]?.trim();
  if (!text) return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0)
    throw new Error(`${name} must be a whole number above 0, not "${text}"`);
  return value;
}

try {
  await fetchBundle({
    controlPlane: required("DISPATCH_CONTROL_PLANE"),
    digest: required("DISPATCH_BUNDLE_DIGEST"),
    format: process.env.DISPATCH_BUNDLE_FORMAT?.trim() || "tar.gz",
    filename: process.env.DISPATCH_BUNDLE_FILENAME?.trim() ?? "",
    credential: required("DISPATCH_WORKER_TOKEN"),
    directory: required("DISPATCH_FUNCTION_DIR"),
    limits: {
      maxBundleBytes: count("DISPATCH_MAX_BUNDLE_BYTES", 32 * 1024 * 1024),
      maxUnpackedBytes: count("DISPATCH_MAX_UNPACKED_BYTES", 256 * 1024 * 1024),
      maxBundleFiles: count("DISPATCH_MAX_BUNDLE_FILES", 10_000),
    },
  });
} catch (err) {
  process.stderr.write(`dispatch-fetch-bundle: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
