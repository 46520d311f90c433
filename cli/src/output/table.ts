/**
 * Lays rows out in aligned columns separated by three spaces, the way `kubectl get`
 * does. Cells are printed as given; the last column is not padded.
 *
 * @example
 * formatTable(["NAME", "STATUS"], [["hello", "READY"]]);
 * // "NAME    STATUS\nhello   READY\n"
 */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return formatColumns([headers, ...rows]);
}

/** {@link formatTable} without a header row, e.g. for `key: value` listings. */
export function formatColumns(rows: readonly (readonly string[])[]): string {
  const all = rows;
  const columns = Math.max(0, ...all.map((row) => row.length));
  const widths = Array.from({ length: columns }, (_, i) =>
    Math.max(...all.map((row) => width(row[i] ?? ""))),
  );
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + " ".repeat((widths[i] ?? 0) - width(cell))))
        .join("   ")
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join("");
}

// Code points, not UTF-16 units, so names with emoji or accents still line up.
function width(text: string): number {
  return [...text].length;
}

/**
 * One row laid out like {@link formatTable} but against fixed column widths, for
 * tables printed a row at a time as a stream delivers them. A cell wider than its
 * column pushes the rest of its row to the right.
 *
 * @example
 * formatRow(["ID", "STATUS"], [8, 6]); // "ID         STATUS\n"
 */
export function formatRow(cells: readonly string[], widths: readonly number[]): string {
  const line = cells
    .map((cell, i) =>
      i === cells.length - 1 ? cell : cell + " ".repeat(Math.max(0, (widths[i] ?? 0) - width(cell))),
    )
    .join("   ")
    .trimEnd();
  return `${line}\n`;
}
