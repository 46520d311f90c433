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
    const values = this.values(name);
    return values.length === 0 ? undefined : values.join(",");
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

  /** As node:http wants them: one key per header, repeated ones as arrays. */
  toObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of this.fields) {
      const have = out[name];
      if (have === undefined) out[name] = value;
      else if (Array.isArray(have)) have.push(value);
      else out[name] = [have, value];
    }
    return out;
  }
}
