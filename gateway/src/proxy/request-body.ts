import type { Readable, Writable } from "node:stream";

/**
 * The downstream request body on its way upstream, kept (up to a limit) so a
 * retry can send it again, as Envoy buffers a request for retries. The body is
 * read as it comes and written to the current attempt with backpressure;
 * before an attempt exists, or once what is kept passes the limit with no
 * attempt to take it, reading pauses. A body larger than the limit can go
 * upstream once: retries need it whole.
 */
export class RequestBody {
  private history: Buffer[] = [];
  private size = 0;
  private sink: Writable | undefined;
  private attempts = 0;
  private replayable = true;
  private ended = false;
  private failed: Error | undefined;
  private discarding = false;
  private readonly endWaiters: (() => void)[] = [];

  constructor(
    private readonly source: Readable,
    private readonly limit: number,
  ) {
    source.on("data", (chunk: Buffer) => this.onData(chunk));
    source.on("end", () => {
      this.ended = true;
      this.sink?.end();
      for (const waiter of this.endWaiters.splice(0)) waiter();
    });
    source.on("error", (error) => {
      this.failed = error;
    });
  }

  /** Whether the body can be sent (again) to a new attempt. */
  canAttempt(): boolean {
    return this.failed === undefined && (this.attempts === 0 || this.replayable);
  }

  /** Whether the whole body has arrived. */
  get complete(): boolean {
    return this.ended;
  }

  /** Bytes received so far. */
  get received(): number {
    return this.size;
  }

  /** Calls `done` once the whole body has arrived (at once if it has). */
  onComplete(done: () => void): void {
    if (this.ended) done();
    else this.endWaiters.push(done);
  }

  /** Sends the body to an attempt's request: what was kept, then the rest as it comes. */
  attach(sink: Writable): void {
    if (!this.canAttempt()) throw new Error("the request body cannot be sent again");
    this.attempts++;
    this.sink = sink;
    for (const chunk of this.history) sink.write(chunk);
    if (!this.replayable) this.history = [];
    if (this.ended) {
      sink.end();
      return;
    }
    this.source.resume();
  }

  /**
   * The request was answered without (all of) its body: read the rest and drop
   * it, so a kept-alive connection can carry the next request.
   */
  discard(): void {
    this.sink = undefined;
    this.replayable = false;
    this.discarding = true;
    this.history = [];
    if (!this.ended) this.source.resume();
  }

  /** The current attempt is over: what arrives now is only kept. */
  detach(): void {
    this.sink = undefined;
    if (!this.replayable) this.source.pause();
  }

  private onData(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.discarding) return;
    if (this.replayable) {
      this.history.push(chunk);
      if (this.size > this.limit) {
        this.replayable = false;
        if (this.sink) this.history = [];
      }
    } else if (!this.sink) {
      this.history.push(chunk);
    }
    const sink = this.sink;
    if (sink) {
      if (!sink.write(chunk)) {
        this.source.pause();
        sink.once("drain", () => {
          if (this.sink === sink) this.source.resume();
        });
      }
    } else if (!this.replayable) {
      this.source.pause();
    }
  }
}
