import { Agent, request } from "node:http";

/** What a worker's POST /invoke answers (runtimes/CONTRACT.md). */
export interface InvokeResult {
  output: unknown;
  error: { type: "InputError" | "FunctionError" | "SystemError"; message: string; stack?: string[] } | null;
  logs: { stdout: string[]; stderr: string[] };
  durationMs?: number;
}

/** The call never got an answer: the worker went away or took too long. */
export class WorkerCallError extends Error {
  override readonly name = "WorkerCallError";
  constructor(
    message: string,
    readonly timedOut: boolean,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Keep-alive connections to workers, reused across calls. */
const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 });

/** POSTs one call to a worker's /invoke and parses the answer. */
export function callWorker(baseUrl: string, body: unknown, timeoutMs: number): Promise<InvokeResult> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      `${baseUrl}/invoke`,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", (err) =>
          reject(new WorkerCallError(`the worker's answer broke off: ${err.message}`, false, { cause: err })),
        );
        res.on("end", () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) {
            return reject(
              new WorkerCallError(`the worker answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`, false),
            );
          }
          try {
            resolve(JSON.parse(text) as InvokeResult);
          } catch (err) {
            reject(new WorkerCallError("the worker's answer is not JSON", false, { cause: err }));
          }
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy(
        new WorkerCallError(`the call did not finish within ${Math.round(timeoutMs / 1000)}s`, true),
      );
    }, timeoutMs);
    req.on("error", (err) => {
      clearTimeout(timer);
      reject(
        err instanceof WorkerCallError
          ? err
          : new WorkerCallError(`the worker stopped during the call (${err.message})`, false, { cause: err }),
      );
    });
    req.end(payload);
  });
}
