import type { Message } from "@bufbuild/protobuf";
import { type CallOptions, Code, ConnectError } from "@connectrpc/connect";
import { createWatchCache, type WatchResponse } from "@dispatch/client";
import { type KindOps, metaOf } from "./kind.js";

/**
 * The Create/Get/List/Update/Delete/Watch calls of the services that follow the
 * standard resource shape. Every such service has the same request and response
 * messages except for the name of the field that holds the resource (`secret`,
 * `function`, …), so one implementation serves them all.
 */
export function resourceOps(client: unknown, field: string, revealable: boolean): KindOps {
  // The typed clients differ only in that field name; this view erases it.
  const service = client as ResourceServiceClient;
  const unwrap = (response: Record<string, unknown>): Message => {
    const object = response[field] as Message | undefined;
    if (!object) throw new ConnectError(`the server's response has no ${field}`, Code.Internal);
    return object;
  };
  const reveal = (options?: { reveal?: boolean }) => (revealable && options?.reveal ? { reveal: true } : {});
  return {
    get: async (ref, options) =>
      unwrap(await service.get({ org: ref.org, name: ref.name, ...reveal(options) })),
    async list(scope, options) {
      const items: Message[] = [];
      let pageToken = "";
      do {
        const page = await service.list({ org: scope.org, options: { pageToken }, ...reveal(options) });
        items.push(...page.items);
        pageToken = page.nextPageToken;
      } while (pageToken);
      return items;
    },
    create: async (object) => unwrap(await service.create({ [field]: object })),
    update: async (object) => unwrap(await service.update({ [field]: object })),
    delete: async (ref) => unwrap(await service.delete({ org: ref.org, name: ref.name })),
    // A watch lasts as long as its caller wants (--wait has its own --timeout).
    watch: (ref, options) =>
      createWatchCache({
        client: service,
        request: { org: ref.org, name: ref.name },
        keyOf: (object) => metaOf(object)?.name ?? "",
        signal: options.signal,
        ...(options.onReconnect ? { onReconnect: options.onReconnect } : {}),
      }),
  };
}

interface ResourceServiceClient {
  create(request: object): Promise<Record<string, unknown>>;
  get(request: object): Promise<Record<string, unknown>>;
  list(request: object): Promise<{ items: Message[]; nextPageToken: string }>;
  update(request: object): Promise<Record<string, unknown>>;
  delete(request: object): Promise<Record<string, unknown>>;
  watch(request: object, options?: CallOptions): AsyncIterable<WatchResponse<Message>>;
}
