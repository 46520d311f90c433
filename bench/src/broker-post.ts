import { type Agent, request } from "node:http";

/**
 * One CloudEvent sent to the broker in binary mode (`POST <events>/<org>/default`)
 * with a Dispatch token; resolves at the 202 (rejects on anything else).
 */
export function postEvent(options: {
  events: string;
  org: string;
  token: string;
  agent: Agent;
  id: string;
  type: string;
  contentType: string;
  data: Buffer;
}): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const req = request(
      new URL(`/${options.org}/default`, options.events),
      {
        method: "POST",
        agent: options.agent,
        headers: {
          authorization: `Bearer ${options.token}`,
          "ce-id": options.id,
          "ce-source": "/bench",
          "ce-type": options.type,
          "ce-specversion": "1.0",
          "content-type": options.contentType,
          "content-length": options.data.length,
        },
      },
      (res) => {
        res.resume();
        res.once("end", () =>
          res.statusCode === 202 ? resolve() : reject(new Error(`the broker answered ${res.statusCode}`)),
        );
      },
    );
    req.once("error", reject);
    req.end(options.data);
  });
}
