import type { IncomingMessage } from "node:http";
import { parse as parseYaml } from "yaml";
import type { JsonValue } from "./json.js";
import { badRequest, KubeStatusError } from "./status-error.js";

/** The real API server's limit on a request body (3 MiB). */
export const maxBodyBytes = 3 * 1024 * 1024;

/** Reads a request body, refusing more than {@link maxBodyBytes} with a 413. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) {
      throw new KubeStatusError(
        413,
        "RequestEntityTooLarge",
        `Request entity too large: limit is ${maxBodyBytes}`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The media type of a Content-Type header, lowercased, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/**
 * Decodes a body as JSON, or YAML for the YAML media types (server-side apply's
 * `application/apply-patch+yaml` among them). Malformed input is a 400 saying
 * where it broke.
 */
export function decodeBody(body: Buffer, type: string): JsonValue {
  const text = body.toString("utf8");
  if (text.trim() === "") throw badRequest("the request body is empty: send the object as JSON");
  if (type.endsWith("yaml")) {
    try {
      return parseYaml(text, { maxAliasCount: 100 }) as JsonValue;
    } catch (error) {
      throw badRequest(`error decoding YAML: ${(error as Error).message}`);
    }
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (error) {
    throw badRequest(`couldn't decode the body as JSON: ${(error as Error).message}`);
  }
}
