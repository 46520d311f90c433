/** One line of the access log: what was asked, what was answered, by whom, how long it took. */
export interface AccessLogEntry {
  /** When the request started (ISO 8601). */
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  /** The status sent downstream; 0 when the client left before an answer. */
  readonly status: number;
  readonly durationMs: number;
  /** The route that matched (its name), if any. */
  readonly route: string | undefined;
  readonly cluster: string | undefined;
  /** The upstream host (`address:port`) of the last attempt, if any. */
  readonly upstream: string | undefined;
  readonly attempts: number;
  /** Envoy's response flags (`NR`, `UH`, `UF`, `UT`, `RL`, `UAEX`, `DC`, …), comma-separated. */
  readonly flags: string;
  readonly requestId: string;
}

/** The default sink: one JSON object per line on stdout. */
export function writeAccessLogLine(entry: AccessLogEntry): void {
  process.stdout.write(`${JSON.stringify({ log: "access", ...entry })}\n`);
}
