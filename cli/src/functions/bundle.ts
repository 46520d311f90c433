import type { Dirent } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { UsageError } from "../errors.js";
import type { BundleShape } from "./runtime.js";

/** A function's code, read from disk and ready to upload. */
export interface Bundle extends BundleShape {
  /** `file` for a single file, `tar.gz` for a directory (SourceService formats). */
  format: "file" | "tar.gz";
  /** For a single file: its name, which the handler refers to. */
  filename: string;
  data: Uint8Array;
}

/** Directories never packed: version control, not code the function runs. */
const SKIPPED = new Set([".git"]);

/**
 * Reads a function's code: a file as it is, a directory packed with
 * {@link packDirectory}.
 *
 * @param label how messages name the path (default: the path itself).
 * @throws UsageError when the path does not exist, or is neither a file nor a directory.
 */
export async function readBundle(path: string, label = path): Promise<Bundle> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new UsageError(`${label} does not exist`);
    throw err;
  }
  if (info.isFile()) {
    const data = await readFile(path);
    return { path: label, kind: "file", files: [], format: "file", filename: basename(path), data };
  }
  if (!info.isDirectory()) throw new UsageError(`${label} is neither a file nor a directory`);
  const { entries, files } = await listDirectory(path);
  if (files.length === 0) throw new UsageError(`${label} is an empty directory`);
  const data = await packDirectory(path, entries);
  return { path: label, kind: "directory", files, format: "tar.gz", filename: "", data };
}

/** What {@link listDirectory} found. */
export interface DirectoryListing {
  /** Everything to pack (directories, files, symlinks), sorted, parents first. */
  entries: string[];
  /** The regular files among them. */
  files: string[];
}

/**
 * Lists a directory recursively, relative and "/"-separated, in a stable order.
 * `.git` is skipped; `node_modules` is kept, since the function may need it.
 * Symlinks are listed, not followed.
 */
export async function listDirectory(dir: string): Promise<DirectoryListing> {
  const entries: string[] = [];
  const files: string[] = [];
  const walk = async (relative: string) => {
    const children: Dirent[] = await readdir(join(dir, relative), { withFileTypes: true });
    for (const child of children) {
      if (SKIPPED.has(child.name)) continue;
      const path = relative === "" ? child.name : `${relative}/${child.name}`;
      if (child.isDirectory()) {
        entries.push(path);
        await walk(path);
      } else if (child.isFile() || child.isSymbolicLink()) {
        entries.push(path);
        if (child.isFile()) files.push(path);
      }
    }
  };
  await walk("");
  // Sorted so that the same tree packs to the same bytes (and the same digest)
  // wherever it is; a directory sorts before the paths inside it.
  entries.sort(comparePaths);
  files.sort(comparePaths);
  return { entries, files };
}

function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Packs `entries` of `dir` as a gzipped tar. The archive is reproducible: entries
 * in the given order, no owners, times or device numbers, so unchanged code gives
 * the same digest and `apply` can tell that nothing changed.
 */
export async function packDirectory(dir: string, entries: readonly string[]): Promise<Uint8Array> {
  // Loaded here only: no other command needs tar, and it is a part of every command's start.
  const { create: createTar } = await import("tar");
  const pack = createTar(
    { cwd: dir, gzip: true, portable: true, noMtime: true, noDirRecurse: true },
    // tar reads "@name" as "add the entries of archive name"; "./@name" is the file.
    entries.map((e) => (e.startsWith("@") ? `./${e}` : e)),
  );
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
