import { createWriteStream } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type { Source } from "@dispatch/proto";
import { x as extract } from "tar";
import type { SourceStore } from "../store/source-store.js";
import { defaultFunctionLimits, type FunctionLimits, formatBytes } from "./limits.js";

/** A bundle that breaks a limit of the installation; the message names the limit. */
export class BundleLimitError extends Error {
  override readonly name = "BundleLimitError";
}

/** An unpacked bundle in use: its directory stays until every holder released it. */
export interface BundleHandle {
  directory: string;
  /** Gives the bundle back; the last release removes its directory. Idempotent. */
  release(): void;
}

/**
 * BundleCache unpacks bundles into `<dir>/<hex digest>/` for workers to run
 * from, once however many revisions use them, and removes each directory when
 * the last revision using it is gone.
 *
 * Unpacking streams the bundle from the source store through gunzip into the
 * tar extractor, so memory stays at a few chunks whatever the bundle expands
 * to (given the whole compressed bundle at once, the extractor inflates all of
 * it in one go: a 2 MB bomb took 2.2 GB). The entries' sizes and count are
 * checked as their headers arrive, and the first entry past a limit stops the
 * unpacking. It goes to a temp dir that is renamed into place, so a crash never
 * leaves a half-unpacked bundle, and a failed one is removed.
 */
export class BundleCache {
  private readonly pending = new Map<string, Promise<string>>();
  private readonly refs = new Map<string, number>();
  private readonly removing = new Map<string, Promise<void>>();
  private readonly limits: Pick<FunctionLimits, "maxUnpackedBytes" | "maxBundleFiles">;

  constructor(
    private readonly dir: string,
    private readonly sources: SourceStore,
    limits: Partial<Pick<FunctionLimits, "maxUnpackedBytes" | "maxBundleFiles">> = {},
  ) {
    this.limits = {
      maxUnpackedBytes: limits.maxUnpackedBytes ?? defaultFunctionLimits.maxUnpackedBytes,
      maxBundleFiles: limits.maxBundleFiles ?? defaultFunctionLimits.maxBundleFiles,
    };
  }

  /**
   * The unpacked bundle, held until {@link BundleHandle.release}. Rejects with
   * {@link BundleLimitError} when the bundle breaks a limit.
   */
  async acquire(source: Source): Promise<BundleHandle> {
    const name = `${source.digest.replace("sha256:", "")}${source.format === "file" ? `-${safeName(source.filename)}` : ""}`;
    this.refs.set(name, (this.refs.get(name) ?? 0) + 1);
    let directory: string;
    try {
      await this.removing.get(name);
      let unpacking = this.pending.get(name);
      if (!unpacking) {
        unpacking = this.unpack(source, name).finally(() => this.pending.delete(name));
        this.pending.set(name, unpacking);
      }
      directory = await unpacking;
    } catch (err) {
      this.unref(name);
      throw err;
    }
    let released = false;
    return {
      directory,
      release: () => {
        if (released) return;
        released = true;
        this.unref(name);
      },
    };
  }

  /**
   * Removes what no revision uses: bundles of functions deleted while the
   * control plane was down, and temp dirs a crash left behind.
   */
  async sweep(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    await Promise.all(
      names
        .filter((name) => !this.refs.has(name) && !this.pending.has(name) && !this.removing.has(name))
        // This process's own temp dirs are in use (unpacking) or being removed.
        .filter((name) => !name.includes(`-${process.pid}-`))
        .map((name) => discard(join(this.dir, name))),
    );
  }

  private unref(name: string): void {
    const count = (this.refs.get(name) ?? 0) - 1;
    if (count > 0) {
      this.refs.set(name, count);
      return;
    }
    this.refs.delete(name);
    // Removed once any unpacking of it has settled; a new holder waits for the removal.
    const removal = (this.pending.get(name) ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => (this.refs.has(name) ? undefined : discard(join(this.dir, name))))
      .finally(() => {
        if (this.removing.get(name) === removal) this.removing.delete(name);
      });
    this.removing.set(name, removal);
  }

  private async unpack(source: Source, name: string): Promise<string> {
    const target = join(this.dir, name);
    if (await exists(target)) return target;
    const data = await this.sources.open(source.digest);
    if (!data) throw new Error(`the function's bundle ${source.digest} is missing from the source store`);
    const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(temp, { recursive: true });
    try {
      if (source.format === "file") {
        await pipeline(
          data,
          this.sizeLimit(),
          createWriteStream(join(temp, safeName(source.filename)), { mode: 0o644 }),
        );
      } else {
        await this.extract(data, temp);
      }
      await rename(temp, target).catch(async (err: NodeJS.ErrnoException) => {
        // Someone else unpacked the same bundle first.
        if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
        await discard(temp);
      });
    } catch (err) {
      data.destroy();
      // The extractor's own error becomes the function's reason.
      await discard(temp).catch(() => undefined);
      throw err;
    }
    return target;
  }

  /** Unpacks a tar (gzipped or not) into `dir`, stopping at the first entry past a limit. */
  private async extract(data: Readable, dir: string): Promise<void> {
    const { maxUnpackedBytes, maxBundleFiles } = this.limits;
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
      // Gunzipped here, by a stream that honours backpressure, when the
      // bundle starts with gzip's magic number; a plain tar goes as it is.
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

  /** A pass-through that fails once more than the unpacked limit went through. */
  private sizeLimit(): Transform {
    const { maxUnpackedBytes } = this.limits;
    let bytes = 0;
    return new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes > maxUnpackedBytes) {
          done(
            new BundleLimitError(
              `the bundle is more than ${formatBytes(maxUnpackedBytes)}, the limit of this installation (dispatch up --max-unpacked-mib)`,
            ),
          );
        } else done(null, chunk);
      },
    });
  }
}

/**
 * Removes a directory for good: renamed aside first, so that no write still
 * in flight (an extractor cut off mid-bundle) can add to it, then removed.
 */
async function discard(path: string): Promise<void> {
  const aside = `${path}.discard-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  await rm(aside, { recursive: true, force: true, maxRetries: 3 });
}

function safeName(filename: string): string {
  return basename(filename) || "handler";
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
