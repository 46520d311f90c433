import type { Io } from "./app.js";

/** An {@link Io} that records what a command printed, for unit tests. */
export interface RecordingIo extends Io {
  out: string;
  err: string;
}

/** Creates a {@link RecordingIo} with the given environment and stdin. */
export function recordingIo(env: NodeJS.ProcessEnv = {}, stdin = ""): RecordingIo {
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
  };
  return io;
}
