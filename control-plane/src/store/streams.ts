import type { JetStreamManager, StreamConfig } from "@nats-io/jetstream";

/** Creates a stream, or brings an existing one's limits up to `config`. */
export async function ensureStream(
  jsm: JetStreamManager,
  config: Partial<StreamConfig> & { name: string },
): Promise<void> {
  try {
    await jsm.streams.info(config.name);
  } catch {
    await jsm.streams.add(config);
    return;
  }
  await jsm.streams.update(config.name, config);
}
