/**
 * The Node.js function worker: `node dist/src/node/worker.js` with the
 * `DISPATCH_*` environment of CONTRACT.md. It loads the handler, listens,
 * says `DISPATCH_READY {"port": N}`, serves calls, and drains on SIGTERM.
 * Node built-ins only: it starts once per function instance.
 */

import { existsSync, writeSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Socket } from "node:net";
import { LOAD_ERROR_EXIT_CODE } from "../contract.js";
import { LoadError, readConfig, type WorkerConfig } from "./config.js";
import { closeAfterReply, createRequestListener, type WorkerState } from "./endpoints.js";
import { type Handler, loadHandler } from "./load-handler.js";
import { currentCall, installOutputCapture } from "./output-capture.js";

const streams = installOutputCapture();

// An error thrown where no promise awaits it (a timer, a stray rejection) fails the call whose
// async context it belongs to. The worker keeps serving: other calls in flight are not at fault.
const onUncaught = (error: unknown) => {
  const call = currentCall();
  if (call !== undefined) call.fail(error);
  else
    streams.stderr(
      `uncaught error outside a call: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
};
process.on("uncaughtException", onUncaught);
process.on("unhandledRejection", onUncaught);

// Under Node's permission model (the driver's "process" isolation) a handler may not start
// processes; it may not signal any other than its own worker either.
if (process.permission !== undefined) allowSignalsToSelfOnly();

const { config, handler } = await load().catch(exitWithLoadError);

function allowSignalsToSelfOnly(): void {
  const internal = process as unknown as { _kill(pid: number, signal: number): number };
  const kill = internal._kill.bind(process);
  internal._kill = (pid, signal) => {
    if (pid !== process.pid) {
      throw Object.assign(new Error(`a function may signal only its own process, not ${pid}`), {
        code: "ERR_ACCESS_DENIED",
      });
    }
    return kill(pid, signal);
  };
}

async function load(): Promise<{ config: WorkerConfig; handler: Handler }> {
  const config = readConfig(process.env);
  // The handler (and what it starts) must not find the credential in its environment.
  delete process.env.DISPATCH_WORKER_TOKEN;
  if (!existsSync(config.functionDir)) {
    throw new LoadError(`DISPATCH_FUNCTION_DIR ${config.functionDir} does not exist`);
  }
  // Relative paths in the handler's own file reads mean the bundle.
  process.chdir(config.functionDir);
  return { config, handler: await loadHandler(config.functionDir, config.handler) };
}

function exitWithLoadError(error: unknown): never {
  const { message, lines } = error instanceof LoadError ? error : new LoadError(String(error));
  // Synchronous, so the line is out before the process is gone.
  writeSync(2, `DISPATCH_LOAD_ERROR ${JSON.stringify({ message, stack: lines })}\n`);
  process.exit(LOAD_ERROR_EXIT_CODE);
}

const state: WorkerState = {
  draining: false,
  inFlight: new Set(),
  calls: 0,
  lastActive: performance.now(),
  onCallDone() {
    if (state.draining && state.inFlight.size === 0) setImmediate(() => process.exit(0));
  },
};

// CONTRACT.md "Connections": a request head of up to 64 KiB (Node's default is 16 KiB), room
// for the platform's Dispatch-Secrets beside the caller's own headers.
const server = createServer({ maxHeaderSize: 64 * 1024 }, createRequestListener(config, handler, state));
// Longer than the idle timeouts of the callers that keep connections (Envoy, undici), so the
// worker is not the side that closes a connection a request is racing onto.
server.keepAliveTimeout = 65_000;
server.on("error", (error) => {
  streams.stderr(`worker cannot listen on ${config.host}:${config.port}: ${error.message}\n`);
  process.exit(1);
});
server.listen(config.port, config.host, () => {
  const { port } = server.address() as AddressInfo;
  streams.stdout(`DISPATCH_READY {"port": ${port}}\n`);
});

const drain = () => {
  if (state.draining) return;
  state.draining = true;
  // Connections are closed by their answers, which say so (CONTRACT.md "Connections"), not by
  // closeIdleConnections: that also drops a connection whose request has arrived but is not yet
  // read, and a caller would see the connection reset rather than a 503 it can act on.
  for (const res of state.inFlight) closeAfterReply(res);
  setTimeout(() => process.exit(0), config.drainMs);
  state.onCallDone();
};
process.on("SIGTERM", drain);
process.on("SIGINT", drain);
if (config.lifelineFd !== undefined) {
  // The driver holds the other end: when its process ends, however it ends, so does this worker.
  const lifeline = new Socket({ fd: config.lifelineFd, readable: true, writable: false });
  lifeline.on("end", drain);
  lifeline.on("error", drain);
  lifeline.resume();
}
