import type { Io } from "./app.js";

/** An {@link Io} that records what a command printed, for unit tests. */
export interface RecordingIo extends Io {
  out: string;
  err: string;
  /** Acts as Ctrl-C: aborts the signal {@link Io.interrupted} returned. */
  interrupt(): void;
}

/** Creates a {@link RecordingIo} with the given environment and stdin. */
export function recordingIo(env: NodeJS.ProcessEnv = {}, stdin = ""): RecordingIo {
  const interrupt = new AbortController();
  const io: RecordingIo = {
    out: "",
    err: "",
    stdout: (text) => {
      io.out += text;
    },
    stderr: (text) => {
      io.err += text;
    },
    stderrIsTTY: false,
    env,
    readStdin: async () => stdin,
    interrupted: () => interrupt.signal,
    interrupt: () => interrupt.abort(),
  };
  return io;
}
