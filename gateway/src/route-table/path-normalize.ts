import type { EscapedSlashesAction } from "./listener.js";

/** What the connection manager does with a request's path. */
export type PathOutcome =
  | { readonly kind: "ok"; readonly path: string }
  /** `path_with_escaped_slashes_action: REJECT_REQUEST`, or a path that is not one. */
  | { readonly kind: "reject"; readonly reason: string }
  /** `UNESCAPE_AND_REDIRECT`: the client is sent to the unescaped path. */
  | { readonly kind: "redirect"; readonly path: string };

const unreserved = /^[A-Za-z0-9\-._~]$/;

/**
 * The connection manager's path handling, before routing: escaped slashes
 * (`%2F`, `%5C`) per `path_with_escaped_slashes_action`, then with
 * `normalize_path` RFC 3986 normalization (percent-encoded unreserved
 * characters decoded, other escapes upper-cased, `.` and `..` segments
 * removed, also when spelled `%2E`), then with `merge_slashes` runs of
 * slashes made one. The query is left alone. Routes and auth then see one
 * spelling of each path, so `/a/../admin` cannot reach around a route meant for
 * `/admin`.
 */
export function normalizePath(
  path: string,
  options: { normalize: boolean; mergeSlashes: boolean; escapedSlashes: EscapedSlashesAction },
): PathOutcome {
  if (!path.startsWith("/")) return { kind: "reject", reason: "the request path must start with /" };
  const queryAt = path.search(/[?#]/);
  if (isNormal(path, queryAt === -1 ? path.length : queryAt)) return { kind: "ok", path };
  let pathOnly = queryAt === -1 ? path : path.slice(0, queryAt);
  const query = queryAt === -1 ? "" : path.slice(queryAt);
  let redirect = false;
  if (/%(2f|5c)/i.test(pathOnly)) {
    switch (options.escapedSlashes) {
      case "keep":
        break;
      case "reject":
        return { kind: "reject", reason: "the path holds escaped slashes (%2F or %5C)" };
      case "unescape-and-redirect":
      case "unescape-and-forward":
        pathOnly = pathOnly.replace(/%2f/gi, "/").replace(/%5c/gi, "\\");
        redirect = options.escapedSlashes === "unescape-and-redirect";
        break;
    }
  }
  if (options.normalize) pathOnly = removeDotSegments(normalizeEscapes(pathOnly.replaceAll("\\", "/")));
  if (options.mergeSlashes) pathOnly = pathOnly.replace(/\/{2,}/g, "/");
  const result = pathOnly + query;
  if (redirect && result !== path) return { kind: "redirect", path: result };
  return { kind: "ok", path: result };
}

/**
 * Whether every option leaves `path` (up to `end`) as it is: no `%`, no
 * backslash, no empty segment (`//`) and no `.` or `..` segment. Most paths
 * are, and this one pass spares them the splitting and rejoining.
 */
function isNormal(path: string, end: number): boolean {
  let segmentStart = 1;
  for (let i = 1; i <= end; i++) {
    const c = i === end ? slash : path.charCodeAt(i);
    if (c === percent || c === backslash) return false;
    if (c !== slash) continue;
    const length = i - segmentStart;
    if (length === 0 && i < end) return false;
    if (length === 1 && path.charCodeAt(segmentStart) === dot) return false;
    if (length === 2 && path.charCodeAt(segmentStart) === dot && path.charCodeAt(segmentStart + 1) === dot)
      return false;
    segmentStart = i + 1;
  }
  return true;
}

const slash = 0x2f;
const backslash = 0x5c;
const percent = 0x25;
const dot = 0x2e;

function normalizeEscapes(path: string): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (_whole, hex: string) => {
    const c = String.fromCharCode(Number.parseInt(hex, 16));
    return unreserved.test(c) ? c : `%${hex.toUpperCase()}`;
  });
}

/** RFC 3986 §5.2.4. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split("/");
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === ".") {
      if (last) out.push("");
    } else if (segment === "..") {
      if (out.length > 1) out.pop();
      if (last) out.push("");
    } else {
      out.push(segment);
    }
  });
  const joined = out.join("/");
  return joined.startsWith("/") ? joined : `/${joined}`;
}
