import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { ReadableStream } from "node:stream/web";
import type { ObjectStore } from "@nats-io/obj";

/** Bundles larger than this are refused unless configured otherwise. */
export const defaultMaxBundleBytes = 32 * 1024 * 1024;

/**
 * SourceStore keeps function bundles in a NATS Object Store, named by the
 * SHA-256 of their bytes, so the same bundle is stored once however many
 * functions or revisions use it.
 */
export class SourceStore {
  constructor(private readonly store: ObjectStore) {}

  /** Stores a bundle (once) and returns its digest, "sha256:<hex>". */
  async put(data: Uint8Array): Promise<string> {
    const digest = digestOf(data);
    const name = objectName(digest);
    if (!(await this.store.info(name))) {
      await this.store.putBlob({ name }, data);
    }
    return digest;
  }

  /** Whether a bundle with this digest is stored. */
  async has(digest: string): Promise<boolean> {
    return (await this.store.info(objectName(digest))) !== null;
  }

  /**
   * The bundle's bytes as a stream of the store's chunks (128 KiB), or
   * undefined: unpacking reads it chunk by chunk, never the whole bundle at once.
   * The stream fails when the store reports an error (e.g. a digest mismatch).
   */
  async open(digest: string): Promise<Readable | undefined> {
    const result = await this.store.get(objectName(digest));
    if (!result) return undefined;
    const data = result.data as unknown as ReadableStream<Uint8Array>;
    return Readable.from(
      (async function* () {
        for await (const chunk of data) yield chunk;
        const err = await result.error;
        if (err) throw err;
      })(),
      { objectMode: false },
    );
  }
}

/** "sha256:<hex>" of some bytes. */
export function digestOf(data: Uint8Array): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function objectName(digest: string): string {
  return digest.replace(":", "-");
}
