import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type LogLine, LogLineSchema, LogStream } from "@dispatch/proto";
import type { NatsHealth, WorkerLogLine } from "@dispatch/server-kit";
import {
  DiscardPolicy,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ensureStream } from "./streams.js";
import { readSubjects } from "./subject-reader.js";

const stream = "LOGS";
const prefix = "logs.";

/**
 * LogStore keeps what workers write in the JetStream stream LOGS (a subject
 * per function, a day and 256 MiB at most) and streams it back to
 * `dispatch logs`.
 */
export class LogStore {
  /** Lines that could not be published (NATS unavailable). */
  dropped = 0;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly nc: NatsConnection,
    private readonly health: NatsHealth | undefined,
  ) {}

  /** Opens (creating or updating) the LOGS stream. */
  static async open(
    nc: NatsConnection,
    js: JetStreamClient,
    jsm: JetStreamManager,
    replicas = 1,
    health?: NatsHealth,
  ): Promise<LogStore> {
    const config = {
      name: stream,
      subjects: [`${prefix}>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: 24 * 3600 * 1e9,
      max_bytes: 256 * 1024 * 1024,
      num_replicas: replicas,
    };
    await ensureStream(jsm, config);
    return new LogStore(js, jsm, nc, health);
  }

  /** Publishes one line (fire and forget: logging never slows a call down). */
  append(line: WorkerLogLine): void {
    const message = create(LogLineSchema, {
      time: timestampFromDate(new Date()),
      function: line.function,
      instance: line.instance,
      stream: line.stream === "stdout" ? LogStream.STDOUT : LogStream.STDERR,
      text: line.text,
      runId: line.runId,
    });
    // A core publish: the stream stores it, with no ack round trip per line.
    // While NATS is gone the line is dropped: a function's output must never
    // take the control plane down (publish throws once the connection closed,
    // and while reconnecting nats.js would hold every line in memory).
    if (this.health?.unavailable()) {
      this.dropped++;
      return;
    }
    try {
      this.nc.publish(`${prefix}${line.org}.${line.function}`, toBinary(LogLineSchema, message));
    } catch {
      this.dropped++;
    }
  }

  /**
   * The function's last `tail` lines from the past hour, then (with follow)
   * every new line until `signal` aborts.
   */
  async *tail(
    org: string,
    fn: string,
    options: { tail: number; follow: boolean; signal?: AbortSignal },
  ): AsyncGenerator<LogLine> {
    const recent: LogLine[] = [];
    let live = false;
    for await (const event of readSubjects(this.js, stream, prefix, `${org}.${fn}`, {
      follow: options.follow,
      initial: { since: new Date(Date.now() - 3600_000) },
      ...(options.signal ? { signal: options.signal } : {}),
    })) {
      if (event.type === "synced") {
        live = true;
        yield* recent;
        continue;
      }
      if (!event.message.data) continue;
      const line = fromBinary(LogLineSchema, event.message.data);
      if (live) {
        yield line;
      } else {
        recent.push(line);
        if (recent.length > options.tail) recent.shift();
      }
    }
  }

  /** Removes a function's lines (when the function is deleted, with its runs). */
  async deleteFunction(org: string, fn: string): Promise<void> {
    await this.jsm.streams.purge(stream, { filter: `${prefix}${org}.${fn}` });
  }
}
