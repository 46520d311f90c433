import { Code, ConnectError } from "@connectrpc/connect";
import type { DispatchClients } from "@dispatch/client";
import type { Source } from "@dispatch/proto";
import { CommandError } from "../errors.js";
import type { Bundle } from "./bundle.js";

/**
 * Uploads a bundle with SourceService.Upload and returns the Source to put in
 * `spec.source`. The same bytes give the same digest, so uploading unchanged code
 * again changes nothing.
 *
 * @throws CommandError naming the path when the server refuses the bundle (its
 *   message gives the size and the limit).
 */
export async function uploadBundle(clients: DispatchClients, org: string, bundle: Bundle): Promise<Source> {
  try {
    const { source } = await clients.sources.upload({
      org,
      data: bundle.data,
      format: bundle.format,
      filename: bundle.filename,
    });
    if (!source) throw new CommandError("the server's upload response has no source");
    return source;
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    const what = `${bundle.path} (${formatSize(bundle.data.length)}) was not uploaded`;
    if (err.code === Code.InvalidArgument) {
      const [first, ...rest] = err.rawMessage.split("\n");
      throw new CommandError(`${what}: ${first}`, { lines: rest, cause: err });
    }
    if (err.code === Code.ResourceExhausted) {
      // Far over the limit, the server's transport refuses the message before the
      // service can say what the limit is.
      throw new CommandError(`${what}: the server refused it as too large (${err.rawMessage})`, {
        cause: err,
      });
    }
    throw err;
  }
}

/** A byte count as `812 B`, `3.4 KiB`, `12.0 MiB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
