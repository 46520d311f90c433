import { createWriteStream } from "node:fs";
import { basename, join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import { x as extract } from "tar";

/** What a bundle may unpack to: the same caps wherever it is unpacked (control plane or pod). */
export interface BundleLimits {
  /** Largest unpacked bundle, in bytes. */
  maxUnpackedBytes: number;
  /** Most entries (files, directories, links) in a bundle. */
  maxBundleFiles: number;
}

/** How a bundle is stored: a tar (gzipped or not), or one file with its name. */
export interface BundleFormat {
  /** "file" for a single file; anything else is a tar, gzipped or not ("tar.gz"). */
  format: string;
  /** The file name of a single-file bundle (e.g. "hello.js"). */
  filename: string;
}

/** A bundle that breaks a limit of the installation; the message names the limit. */
export class BundleLimitError extends Error {
  override readonly name = "BundleLimitError";
}

/**
 * Unpacks a bundle's bytes into `dir` (which must exist and be empty): a
 * single file under its own name (a base name only: a path in it cannot
 * escape `dir`), or a tar, gunzipped first when it starts with gzip's magic
 * number. Memory stays at a few chunks whatever the bundle expands to: the
 * stream honours backpressure, and the entries' sizes and count are checked
 * as their headers arrive, so the first entry past a limit stops the
 * unpacking with {@link BundleLimitError} before anything of it is written.
 * On failure `dir` may hold part of the bundle: the caller removes it.
 */
export async function unpackBundle(
  data: Readable,
  dir: string,
  bundle: BundleFormat,
  limits: BundleLimits,
): Promise<void> {
  if (bundle.format === "file") {
    await pipeline(
      data,
      sizeLimit(limits.maxUnpackedBytes),
      createWriteStream(join(dir, bundleFileName(bundle.filename)), { mode: 0o644 }),
    );
    return;
  }
  await extractTar(data, dir, limits);
}

/** The name a single-file bundle is written under: its base name ("handler" when it has none). */
export function bundleFileName(filename: string): string {
  return basename(filename) || "handler";
}

/** "256 MiB", "1.5 MiB", "12 KiB", "100 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${trim(bytes / (1024 * 1024))} MiB`;
  if (bytes >= 1024) return `${trim(bytes / 1024)} KiB`;
  return `${bytes} bytes`;
}

function trim(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

async function extractTar(data: Readable, dir: string, limits: BundleLimits): Promise<void> {
  const { maxUnpackedBytes, maxBundleFiles } = limits;
  let entries = 0;
  let bytes = 0;
  let failure: BundleLimitError | undefined;
  const unpacker = extract({
    cwd: dir,
    strict: true,
    // Header by header, before any of the entry is written.
    filter: (_path, entry) => {
      if (failure) return false;
      entries++;
      bytes += "size" in entry && typeof entry.size === "number" ? entry.size : 0;
      if (entries > maxBundleFiles) {
        failure = new BundleLimitError(
          `the bundle has more than ${maxBundleFiles} files, the limit of this installation (dispatch up --max-bundle-files): leave out what the function does not need`,
        );
      } else if (bytes > maxUnpackedBytes) {
        failure = new BundleLimitError(
          `the bundle unpacks to more than ${formatBytes(maxUnpackedBytes)}, the limit of this installation (dispatch up --max-unpacked-mib): leave out what the function does not need`,
        );
      }
      if (!failure) return true;
      // Stop reading and inflating now; the extractor gets no more input.
      data.destroy(failure);
      return false;
    },
  });
  // An extractor's late complaints after a failure (its input was cut off).
  unpacker.on("error", () => undefined);
  try {
    // Given the whole compressed bundle at once, the extractor inflates all of it in one go
    // (a 2 MB bomb took 2.2 GB): gunzipped here instead, by a stream that honours backpressure.
    const chunks = data[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const head = await chunks.next();
    const gzipped = !head.done && head.value[0] === 0x1f && head.value[1] === 0x8b;
    const input = (async function* () {
      for (let next = head; !next.done; next = await chunks.next()) yield next.value;
    })();
    await (gzipped ? pipeline(input, createGunzip(), unpacker) : pipeline(input, unpacker));
  } catch (err) {
    throw failure ?? err;
  }
  if (failure) throw failure;
}

/** A pass-through that fails once more than `maxBytes` went through. */
function sizeLimit(maxBytes: number): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) {
        done(
          new BundleLimitError(
            `the bundle is more than ${formatBytes(maxBytes)}, the limit of this installation (dispatch up --max-unpacked-mib)`,
          ),
        );
      } else done(null, chunk);
    },
  });
}
