#!/usr/bin/env node
import { main } from "../dist/src/main.js";

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Stopped: whatever is left (a keep-alive socket a client holds open) must not keep the process.
setTimeout(() => process.exit(code), 1000).unref();
