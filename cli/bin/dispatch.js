#!/usr/bin/env node
import { run } from "../dist/src/main.js";

// `dispatch get fn | head -1`: a closed pipe ends the command quietly, like other CLIs.
// A terminal that hung up (EIO) must not crash `dispatch up` while it stops cleanly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code === "EPIPE") process.exit(0);
    if (err.code === "EIO") return;
    throw err;
  });
}

const code = await run(process.argv.slice(2));
process.exitCode = code;
// Keep-alive sockets or a finished watch must not hold the process open.
setTimeout(() => process.exit(code), 200).unref();
