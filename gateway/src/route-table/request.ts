/**
 * What routing and the HTTP filters read of a request: Envoy's view of it,
 * with the pseudo-headers `:method`, `:path`, `:authority` and `:scheme`.
 * Header names are lower case; a header sent more than once reads as its
 * values joined by "," (as Envoy matches them).
 */
export interface RequestView {
  readonly method: string;
  /** `:path` after the connection manager's normalization, with the query. */
  readonly path: string;
  /** `:path` without the query string and fragment (what exact and regex routes match). */
  readonly pathOnly: string;
  /** `:authority` (the Host header). */
  readonly authority: string;
  readonly scheme: "http" | "https";
  /** The header's value, or undefined when the request does not carry it. */
  header(name: string): string | undefined;
  /** The first value of a query parameter, percent-decoded; undefined when absent. */
  queryParameter(name: string): string | undefined;
}

/** What a {@link RequestView} is made from. */
export interface RequestInit {
  method: string;
  path: string;
  authority: string;
  scheme: "http" | "https";
  /** Header fields as received (names in any case), each field once per occurrence. */
  headers: Iterable<readonly [string, string]>;
}

/** Builds the view; header names are folded to lower case once, here. */
export function createRequestView(init: RequestInit): RequestView {
  return new View(init);
}

/** A class rather than an object of closures: one allocation per request, not four. */
class View implements RequestView {
  readonly method: string;
  readonly path: string;
  readonly pathOnly: string;
  readonly authority: string;
  readonly scheme: "http" | "https";
  /** Each name's values joined by "," as they come, so a lookup allocates nothing. */
  private readonly headers = new Map<string, string>();
  private query: Map<string, string> | undefined;

  constructor(init: RequestInit) {
    this.method = init.method;
    this.path = init.path;
    this.authority = init.authority;
    this.scheme = init.scheme;
    const queryAt = init.path.search(/[?#]/);
    this.pathOnly = queryAt === -1 ? init.path : init.path.slice(0, queryAt);
    for (const [name, value] of init.headers) {
      const key = name.toLowerCase();
      const joined = this.headers.get(key);
      this.headers.set(key, joined === undefined ? value : `${joined},${value}`);
    }
  }

  header(name: string): string | undefined {
    switch (name) {
      case ":method":
        return this.method;
      case ":path":
        return this.path;
      case ":authority":
      case "host":
        return this.authority;
      case ":scheme":
        return this.scheme;
      default:
        return this.headers.get(name);
    }
  }

  queryParameter(name: string): string | undefined {
    this.query ??= parseQuery(this.path);
    return this.query.get(name);
  }
}

/** The query string's parameters, first value of each, percent-decoded where that is valid. */
export function parseQuery(path: string): Map<string, string> {
  const params = new Map<string, string>();
  const at = path.indexOf("?");
  if (at === -1) return params;
  const hash = path.indexOf("#", at);
  const query = path.slice(at + 1, hash === -1 ? undefined : hash);
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? "" : decode(pair.slice(eq + 1));
    if (!params.has(name)) params.set(name, value);
  }
  return params;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
