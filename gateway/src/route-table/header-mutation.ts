import type { HeaderValueOption } from "@dispatch/proto/envoy";
import { ConfigError } from "./config-error.js";
import type { HeaderList } from "./header-list.js";
import type { RequestView } from "./request.js";

/** What `%VARIABLE%`s in header values are filled from. */
export interface HeaderContext {
  readonly request: RequestView;
  /** The downstream peer's address and port. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** The downstream protocol, e.g. "HTTP/1.1". */
  readonly protocol: string;
}

/** Header edits of one level (weighted cluster, route, virtual host, route configuration). */
export interface HeaderMutation {
  readonly remove: readonly string[];
  readonly add: readonly CompiledHeaderOption[];
}

/** `HeaderValueOption.append_action`. */
type AppendAction = "append" | "add-if-absent" | "overwrite-or-add" | "overwrite-if-exists";
const appendActions: readonly AppendAction[] = [
  "append",
  "add-if-absent",
  "overwrite-or-add",
  "overwrite-if-exists",
];

interface CompiledHeaderOption {
  readonly name: string;
  readonly value: (context: HeaderContext) => string;
  readonly action: AppendAction;
  readonly keepEmpty: boolean;
}

/** An empty mutation. */
export const noHeaderMutation: HeaderMutation = { remove: [], add: [] };

/**
 * Compiles `*_headers_to_add` / `*_headers_to_remove`. As in Envoy, neither
 * pseudo-headers nor `host` may be edited this way, and values may use
 * `%DOWNSTREAM_REMOTE_ADDRESS%`, `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`,
 * `%DOWNSTREAM_LOCAL_ADDRESS%`, `%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%`,
 * `%DOWNSTREAM_LOCAL_PORT%`, `%PROTOCOL%` and `%REQ(name)%` (`%%` is a
 * percent sign); any other variable is refused.
 */
export function compileHeaderMutation(
  add: readonly HeaderValueOption[],
  remove: readonly string[],
  field: string,
): HeaderMutation {
  const removed = remove.map((name, i) => {
    const lower = name.toLowerCase();
    checkEditable(lower, `${field}_to_remove[${i}]`);
    return lower;
  });
  const added = add.map((option, i) => compileOption(option, `${field}_to_add[${i}]`));
  return added.length === 0 && removed.length === 0 ? noHeaderMutation : { remove: removed, add: added };
}

function compileOption(option: HeaderValueOption, path: string): CompiledHeaderOption {
  const header = option.header;
  if (!header) throw new ConfigError(`${path}.header`, "is required");
  const name = header.key.toLowerCase();
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(name)) {
    throw new ConfigError(`${path}.header.key`, `${JSON.stringify(header.key)} is not a valid header name`);
  }
  checkEditable(name, `${path}.header.key`);
  const raw = header.rawValue.length > 0 ? Buffer.from(header.rawValue).toString("latin1") : header.value;
  if (/[\r\n\0]/.test(raw)) throw new ConfigError(`${path}.header.value`, "must not contain CR, LF or NUL");
  if (option.append !== undefined && option.appendAction !== 0) {
    throw new ConfigError(path, "set append or append_action, not both");
  }
  const action: AppendAction =
    option.append !== undefined
      ? option.append
        ? "append"
        : "overwrite-or-add"
      : (appendActions[option.appendAction] ?? "append");
  return {
    name,
    value: compileHeaderValue(raw, `${path}.header.value`),
    action,
    keepEmpty: option.keepEmptyValue,
  };
}

function checkEditable(name: string, path: string): void {
  if (name.startsWith(":") || name === "host") {
    throw new ConfigError(path, `${name} cannot be edited with header mutations (use a rewrite instead)`);
  }
}

/** Compiles a header value with `%VARIABLE%`s into a function of the request. */
export function compileHeaderValue(format: string, path: string): (context: HeaderContext) => string {
  const parts: ((context: HeaderContext) => string)[] = [];
  let literal = "";
  let i = 0;
  while (i < format.length) {
    const c = format[i];
    if (c !== "%") {
      literal += c;
      i++;
      continue;
    }
    if (format[i + 1] === "%") {
      literal += "%";
      i += 2;
      continue;
    }
    const end = format.indexOf("%", i + 1);
    if (end === -1) throw new ConfigError(path, `${JSON.stringify(format)} has an unterminated %VARIABLE%`);
    const variable = format.slice(i + 1, end);
    if (literal !== "") {
      const text = literal;
      parts.push(() => text);
      literal = "";
    }
    parts.push(variableOf(variable, path));
    i = end + 1;
  }
  if (literal !== "") {
    const text = literal;
    parts.push(() => text);
  }
  if (parts.length === 0) return () => "";
  if (parts.length === 1 && parts[0]) return parts[0];
  return (context) => parts.map((part) => part(context)).join("");
}

function variableOf(variable: string, path: string): (context: HeaderContext) => string {
  switch (variable) {
    case "DOWNSTREAM_REMOTE_ADDRESS":
      return (c) => withPort(c.remoteAddress, c.remotePort);
    case "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT":
      return (c) => c.remoteAddress;
    case "DOWNSTREAM_LOCAL_ADDRESS":
      return (c) => withPort(c.localAddress, c.localPort);
    case "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
      return (c) => c.localAddress;
    case "DOWNSTREAM_LOCAL_PORT":
      return (c) => String(c.localPort);
    case "PROTOCOL":
      return (c) => c.protocol;
  }
  const req = /^REQ\(([^)]+)\)$/.exec(variable);
  if (req?.[1]) {
    const name = req[1].toLowerCase();
    return (c) => c.request.header(name) ?? "";
  }
  throw new ConfigError(path, `%${variable}% is not a variable the gateway knows`);
}

function withPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Applies one level's edits: removals first, then additions. */
export function applyHeaderMutation(
  headers: HeaderList,
  mutation: HeaderMutation,
  context: HeaderContext,
): void {
  for (const name of mutation.remove) headers.remove(name);
  for (const option of mutation.add) {
    const value = option.value(context);
    if (value === "" && !option.keepEmpty) continue;
    switch (option.action) {
      case "append":
        headers.add(option.name, value);
        break;
      case "add-if-absent":
        if (!headers.has(option.name)) headers.add(option.name, value);
        break;
      case "overwrite-or-add":
        headers.set(option.name, value);
        break;
      case "overwrite-if-exists":
        if (headers.has(option.name)) headers.set(option.name, value);
        break;
    }
  }
}
