#!/usr/bin/env node
import { run } from "../dist/src/main.js";

const code = await run(process.argv.slice(2));
process.exitCode = code;
// Keep-alive sockets or a finished watch must not hold the process open.
setTimeout(() => process.exit(code), 200).unref();
