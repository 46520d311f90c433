import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { bundleFileName, unpackBundle } from "@dispatch/runtimes/bundle";
import type { BundleRef } from "@dispatch/server-kit";
import type { SourceStore } from "../store/source-store.js";
import { defaultFunctionLimits, type FunctionLimits } from "./limits.js";

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
 * Unpacking streams the bundle from the source store through the capped
 * unpacker that pods use too (`unpackBundle` of `@dispatch/runtimes/bundle`:
 * memory stays at a few chunks, the first entry past a limit stops it). It goes
 * to a temp dir that is renamed into place, so a crash never leaves a
 * half-unpacked bundle, and a failed one is removed.
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
   * `BundleLimitError` (`@dispatch/runtimes/bundle`) when the bundle breaks a limit.
   */
  async acquire(bundle: BundleRef): Promise<BundleHandle> {
    const name = `${bundle.digest.replace("sha256:", "")}${bundle.format === "file" ? `-${bundleFileName(bundle.filename)}` : ""}`;
    this.refs.set(name, (this.refs.get(name) ?? 0) + 1);
    let directory: string;
    try {
      await this.removing.get(name);
      let unpacking = this.pending.get(name);
      if (!unpacking) {
        unpacking = this.unpack(bundle, name).finally(() => this.pending.delete(name));
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

  private async unpack(bundle: BundleRef, name: string): Promise<string> {
    const target = join(this.dir, name);
    if (await exists(target)) return target;
    const data = await this.sources.open(bundle.digest);
    if (!data) throw new Error(`the function's bundle ${bundle.digest} is missing from the source store`);
    const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(temp, { recursive: true });
    try {
      await unpackBundle(data, temp, bundle, this.limits);
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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
