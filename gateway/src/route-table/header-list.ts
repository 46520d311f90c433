/**
 * An ordered, mutable list of header fields with lower-case names: what the
 * proxy builds for the upstream request and the downstream response, and what
 * header mutations edit.
 */
export class HeaderList {
  private readonly fields: [string, string][] = [];

  constructor(fields: Iterable<readonly [string, string]> = []) {
    for (const [name, value] of fields) this.fields.push([name.toLowerCase(), value]);
  }

  /** Every value of a header, in order. */
  values(name: string): string[] {
    const out: string[] = [];
    for (const [n, v] of this.fields) if (n === name) out.push(v);
    return out;
  }

  /** The values joined by "," (undefined when absent). */
  get(name: string): string | undefined {
    let joined: string | undefined;
    for (const [n, v] of this.fields) if (n === name) joined = joined === undefined ? v : `${joined},${v}`;
    return joined;
  }

  has(name: string): boolean {
    return this.fields.some(([n]) => n === name);
  }

  add(name: string, value: string): void {
    this.fields.push([name.toLowerCase(), value]);
  }

  /** Replaces every value of the header with one. */
  set(name: string, value: string): void {
    this.remove(name);
    this.add(name, value);
  }

  remove(name: string): void {
    for (let i = this.fields.length - 1; i >= 0; i--) {
      if (this.fields[i]?.[0] === name) this.fields.splice(i, 1);
    }
  }

  entries(): readonly (readonly [string, string])[] {
    return this.fields;
  }

  /**
   * As node:http wants them: one key per header, repeated ones as arrays.
   * `last` (lower-case names) are set after the others, replacing any values
   * of theirs: the result of `set` on a copy, without copying the list.
   */
  toObject(last: readonly (readonly [string, string])[] = []): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of this.fields) {
      if (last.length > 0 && last.some(([n]) => n === name)) continue;
      const have = out[name];
      if (have === undefined) out[name] = value;
      else if (Array.isArray(have)) have.push(value);
      else out[name] = [have, value];
    }
    for (const [name, value] of last) out[name] = value;
    return out;
  }

  /**
   * The same headers as {@link toObject} gives, as a flat `[name, value, …]`
   * list, which node:http validates and writes as it is, without building
   * its own header map first. Undefined when a name appears twice or starts
   * with a digit: as an object those are grouped or reordered, so the list
   * would not be the same message; use {@link toObject} then.
   */
  toFlat(last: readonly (readonly [string, string])[] = []): string[] | undefined {
    let kept = 0;
    for (const [name] of this.fields) if (!last.some(([n]) => n === name)) kept++;
    // Sized once: a list grown by push is copied as it grows.
    const out = new Array<string>(2 * (kept + last.length));
    let at = 0;
    for (const [name, value] of this.fields) {
      if (last.length > 0 && last.some(([n]) => n === name)) continue;
      out[at++] = name;
      out[at++] = value;
    }
    for (const [name, value] of last) {
      out[at++] = name;
      out[at++] = value;
    }
    for (let i = 0; i < out.length; i += 2) {
      const name = out[i] as string;
      const first = name.charCodeAt(0);
      if (first >= 0x30 && first <= 0x39) return undefined;
      for (let j = i + 2; j < out.length; j += 2) if (out[j] === name) return undefined;
    }
    return out;
  }
}
