import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  type BundleFormat,
  type BundleLimitError,
  type BundleLimits,
  formatBytes,
  unpackBundle,
} from "./unpack-bundle.js";

/** The path under which a control plane serves bundles: `GET /bundles/<digest>`. */
export const BUNDLES_PATH = "/bundles/";

/** What {@link fetchBundle} needs: where the bundle comes from, what it must be, where it goes. */
export interface FetchBundleOptions extends BundleFormat {
  /** The control plane's base URL, e.g. `http://dispatch-control-plane:8080`. */
  controlPlane: string;
  /** The bundle's digest, "sha256:<hex>": what is downloaded must hash to it. */
  digest: string;
  /** The instance's credential (`DISPATCH_WORKER_TOKEN`), which the control plane issued for this bundle. */
  credential: string;
  /** Where the bundle is unpacked: created when missing, else it must be empty (a pod's emptyDir). */
  directory: string;
  /** The installation's caps: the same the control plane unpacks with, and the largest bundle it takes. */
  limits: BundleLimits & { maxBundleBytes: number };
  /** Silence on the connection longer than this fails the download; default 60 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The control plane did not hand the bundle over (refused, missing, unreachable); the message says why. */
export class BundleFetchError extends Error {
  override readonly name = "BundleFetchError";
  constructor(
    message: string,
    /** The HTTP status of a refusal, when there was an answer. */
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The bytes received do not hash to the digest asked for: nothing was unpacked. */
export class BundleDigestError extends Error {
  override readonly name = "BundleDigestError";
}

const digestPattern = /^sha256:[0-9a-f]{64}$/;

/**
 * Fetches a function's bundle from the control plane for an instance that
 * runs elsewhere (a pod): downloads it with the instance's credential into a
 * temp file, hashing it on the way (at most `limits.maxBundleBytes`), refuses
 * it with {@link BundleDigestError} unless it hashes to `digest`, and only
 * then unpacks it into `directory` with the same caps as the control plane
 * ({@link BundleLimitError} past one). Unverified bytes are never unpacked;
 * a failure leaves `directory` empty.
 *
 * @example
 * await fetchBundle({ controlPlane: "http://dispatch:8080", digest, credential, directory: "/function",
 *   format: "tar.gz", filename: "", limits: { maxBundleBytes, maxUnpackedBytes, maxBundleFiles } });
 */
export async function fetchBundle(options: FetchBundleOptions): Promise<void> {
  if (!digestPattern.test(options.digest)) {
    throw new BundleFetchError(`the bundle digest "${options.digest}" is not "sha256:" and 64 hex digits`);
  }
  await mkdir(options.directory, { recursive: true });
  if ((await readdir(options.directory)).length > 0) {
    throw new BundleFetchError(
      `${options.directory} is not empty: a bundle is unpacked only into an empty directory`,
    );
  }
  const staging = await mkdtemp(join(tmpdir(), "dispatch-bundle-"));
  try {
    const file = join(staging, "bundle");
    const received = await download(options, file);
    if (received !== options.digest) {
      throw new BundleDigestError(
        `the bundle received for ${options.digest} hashes to ${received}: it was altered on the way or by the server, and was not unpacked`,
      );
    }
    try {
      await unpackBundle(createReadStream(file), options.directory, options, options.limits);
    } catch (err) {
      await empty(options.directory);
      throw err;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Downloads the bundle into `file` and returns the digest of what came. */
async function download(options: FetchBundleOptions, file: string): Promise<string> {
  const url = new URL(`${BUNDLES_PATH}${options.digest}`, options.controlPlane);
  const response = await get(url, options);
  if (response.statusCode !== 200) {
    const message = await errorMessage(response);
    throw new BundleFetchError(
      `the control plane at ${url.origin} refused the bundle ${options.digest} (HTTP ${response.statusCode}): ${message}`,
      response.statusCode,
    );
  }
  const hash = createHash("sha256");
  let bytes = 0;
  const { maxBundleBytes } = options.limits;
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBundleBytes) {
        done(
          new BundleFetchError(
            `the bundle ${options.digest} is more than ${formatBytes(maxBundleBytes)}, the largest bundle of this installation`,
          ),
        );
        return;
      }
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(response, hashing, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    if (err instanceof BundleFetchError) throw err;
    throw new BundleFetchError(
      `the download of ${options.digest} broke off: ${(err as Error).message}`,
      undefined,
      {
        cause: err,
      },
    );
  }
  return `sha256:${hash.digest("hex")}`;
}

function get(url: URL, options: FetchBundleOptions): Promise<IncomingMessage> {
  const send = url.protocol === "https:" ? httpsRequest : url.protocol === "http:" ? httpRequest : undefined;
  if (!send) {
    return Promise.reject(new BundleFetchError(`the control plane URL ${url.origin} is not http or https`));
  }
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: "GET",
        headers: { authorization: `Bearer ${options.credential}`, accept: "application/octet-stream" },
        ...(options.signal ? { signal: options.signal } : {}),
      },
      resolve,
    );
    req.setTimeout(options.timeoutMs ?? 60_000, () =>
      req.destroy(new BundleFetchError(`the control plane at ${url.origin} did not answer in time`)),
    );
    req.once("error", (err) =>
      reject(
        err instanceof BundleFetchError
          ? err
          : new BundleFetchError(
              `cannot reach the control plane at ${url.origin}: ${err.message}`,
              undefined,
              {
                cause: err,
              },
            ),
      ),
    );
    req.end();
  });
}

/** The message of a refusal (`{"error": {"message"}}`), or its first bytes. */
async function errorMessage(response: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of response) {
    text += (chunk as Buffer).toString("utf8");
    if (text.length > 4096) {
      response.destroy();
      break;
    }
  }
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof message === "string") return message;
  } catch {
    // Not JSON: the text itself says what it says.
  }
  return text.slice(0, 200) || "no reason given";
}

/** Removes what a failed unpacking left in `dir`, keeping `dir` (it may be a mount point). */
async function empty(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    await rm(join(dir, name), { recursive: true, force: true });
  }
}
