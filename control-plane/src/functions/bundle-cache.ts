import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Source } from "@dispatch/proto";
import { x as extract } from "tar";
import type { SourceStore } from "./source-store.js";

/**
 * BundleCache unpacks bundles into `<dir>/<hex digest>/` once, for workers to
 * run from. Unpacking goes to a temp dir that is renamed into place, so a
 * crash never leaves a half-unpacked bundle behind.
 */
export class BundleCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly dir: string,
    private readonly sources: SourceStore,
  ) {}

  /** The directory holding the unpacked bundle. */
  async directory(source: Source): Promise<string> {
    const key = `${source.digest}/${source.format}/${source.filename}`;
    let dir = this.pending.get(key);
    if (!dir) {
      dir = this.unpack(source).finally(() => this.pending.delete(key));
      this.pending.set(key, dir);
    }
    return await dir;
  }

  private async unpack(source: Source): Promise<string> {
    const name = `${source.digest.replace("sha256:", "")}${source.format === "file" ? `-${safeName(source.filename)}` : ""}`;
    const target = join(this.dir, name);
    if (await exists(target)) return target;
    const data = await this.sources.get(source.digest);
    if (!data) throw new Error(`the function's bundle ${source.digest} is missing from the source store`);
    const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
    await mkdir(temp, { recursive: true });
    try {
      if (source.format === "file") {
        await writeFile(join(temp, safeName(source.filename)), data);
      } else {
        await pipeline(Readable.from([Buffer.from(data)]), extract({ cwd: temp, strict: true }));
      }
      await rename(temp, target).catch(async (err: NodeJS.ErrnoException) => {
        // Someone else unpacked the same bundle first.
        if (err.code !== "ENOTEMPTY" && err.code !== "EEXIST") throw err;
        await rm(temp, { recursive: true, force: true });
      });
    } catch (err) {
      // Keep the extractor's own error (it becomes the function's reason); the
      // temp dir goes best effort, as writes may still be settling.
      await rm(temp, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    return target;
  }
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
