import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { ExecutionContext } from "ava";

/**
 * Compares `actual` with a golden file, or rewrites the file when
 * `UPDATE_GOLDEN=1` (then review the diff before committing it).
 *
 * @param path the golden file's path
 */
export async function matchGolden(t: ExecutionContext, path: string, actual: string): Promise<void> {
  if (process.env.UPDATE_GOLDEN === "1") {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, actual);
    t.log(`rewrote ${path}`);
    t.pass();
    return;
  }
  let expected: string;
  try {
    expected = await readFile(path, "utf8");
  } catch {
    t.fail(`${path} does not exist: write it with UPDATE_GOLDEN=1 and review it`);
    return;
  }
  t.is(
    actual,
    expected,
    `differs from ${path}: if the change is meant, rewrite it with UPDATE_GOLDEN=1 and review the diff`,
  );
}
