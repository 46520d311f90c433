import { ANY_HOST, type PathMatchIR } from "../ir/ir.js";
import type { IngressTranslation } from "../translate/translate-ingress.js";

/** The most URLs one endpoint's status lists. */
const maxUrls = 16;

/**
 * Where each served endpoint answers: every public base URL of the data plane
 * (`http://127.0.0.1:8081`, `https://api.example.com`) joined with each path
 * it serves, on its own hosts when it names some (the base URL's scheme and
 * port kept), over HTTPS only when it takes only HTTPS. A prefix path ends in
 * `/*`, a regex path shows as `~REGEX` after the base.
 */
export function endpointUrls(
  translation: IngressTranslation,
  publicUrls: readonly string[],
): Map<string, string[]> {
  const bases = publicUrls.flatMap((raw) => {
    try {
      return [new URL(raw)];
    } catch {
      return [];
    }
  });
  // A host-less endpoint's routes sit on the any-host virtual host and are
  // repeated on every named one: it is listed from the any-host one only.
  const hostless = new Set<string>();
  for (const vh of translation.ir.virtualHosts) {
    if (vh.name === ANY_HOST) for (const route of vh.routes) hostless.add(route.endpoint);
  }
  const out = new Map<string, string[]>();
  for (const vh of translation.ir.virtualHosts) {
    // The origins once per virtual host, not per route: a host's own name, the base's scheme and port.
    const origins = bases.map((base) => {
      if (vh.name === ANY_HOST) return { https: base.protocol === "https:", origin: base.origin };
      const url = new URL(base.href);
      url.hostname = vh.name;
      return { https: base.protocol === "https:", origin: url.origin };
    });
    for (const route of vh.routes) {
      if (vh.name !== ANY_HOST && hostless.has(route.endpoint)) continue;
      const list = out.get(route.endpoint) ?? [];
      for (const { https, origin } of origins) {
        if (route.httpsOnly && !https) continue;
        const shown = `${origin}${display(route.match)}`;
        if (!list.includes(shown) && list.length < maxUrls) list.push(shown);
      }
      out.set(route.endpoint, list);
    }
  }
  return out;
}

function display(match: PathMatchIR): string {
  switch (match.kind) {
    case "exact":
      return match.path;
    case "prefix":
      return `${match.prefix}*`;
    case "regex":
      return `/~${match.regex}`;
  }
}
