import { watch } from "node:fs";
import { readdir } from "node:fs/promises";
import { gzipSync } from "node:zlib";

/** A ustar header for a regular file of `size` bytes (POSIX.1-1988 §10.1.1). */
export function tarHeader(name: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  header.write("00000000000\0", 136);
  header.write("        ", 148);
  header.write("0", 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return header;
}

/** A .tar.gz of the given files. */
export function tarGz(files: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text);
    parts.push(tarHeader(name, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(parts));
}

/**
 * A compressed bomb: a .tar.gz of about `mib / 1000` MiB holding one file of
 * `mib` MiB of zeros. Made of gzip members (RFC 1952 §2.2: a gzip file is a
 * series of members), the same compressed MiB repeated, so it costs nothing to build.
 */
export function gzipBomb(mib: number): Buffer {
  const MiB = 1024 * 1024;
  const zeros = gzipSync(Buffer.alloc(MiB), { level: 9 });
  const parts = [gzipSync(tarHeader("big.bin", mib * MiB))];
  for (let i = 0; i < mib; i++) parts.push(zeros);
  parts.push(gzipSync(Buffer.alloc(1024)));
  return Buffer.concat(parts);
}

/** Resolves with the directory's entries once `check` holds for them, re-checking on every change (fs.watch). */
export function directoryUntil(dir: string, check: (names: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dir);
    let done = false;
    const test = async () => {
      const names = await readdir(dir);
      if (!done && check(names)) {
        done = true;
        watcher.close();
        resolve(names);
      }
    };
    watcher.on("change", () => void test().catch(reject));
    watcher.on("error", reject);
    void test().catch(reject);
  });
}
