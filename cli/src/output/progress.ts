/** Where progress goes: stderr, so stdout stays clean for `-o json`. */
export interface ProgressStream {
  write(text: string): unknown;
  /** A terminal gets a redrawn spinner line; anything else gets one line per change. */
  isTTY?: boolean;
}

/** Shows what a long-running command is waiting for. */
export interface Progress {
  /** Sets the current state, e.g. `secret/db: CREATING`. */
  update(text: string): void;
  /** Stops the spinner; prints `line` (if given) as the final word. */
  done(line?: string): void;
}

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/**
 * A spinner with the elapsed time on a TTY; on anything else, plain lines written
 * only when the state changes (so logs and CI output stay readable).
 *
 * @param now injectable clock for tests.
 */
export function createProgress(stream: ProgressStream, now: () => number = Date.now): Progress {
  const started = now();
  let text = "";
  let last = "";
  if (!stream.isTTY) {
    return {
      update(next) {
        if (next !== last) stream.write(`${next}\n`);
        last = next;
      },
      done(line) {
        if (line) stream.write(`${line}\n`);
      },
    };
  }
  let frame = 0;
  const draw = () => {
    const elapsed = ((now() - started) / 1000).toFixed(1);
    stream.write(`\r\x1b[K${FRAMES[frame % FRAMES.length]} ${text} (${elapsed}s)`);
    frame++;
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  return {
    update(next) {
      text = next;
      draw();
    },
    done(line) {
      clearInterval(timer);
      stream.write("\r\x1b[K");
      if (line) stream.write(`${line}\n`);
    },
  };
}
