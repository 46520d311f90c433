/**
 * Test helpers: real servers on free ports for integration tests.
 */

export { type StartDispatchOptions, startDispatch, type TestDispatch } from "./dispatch.js";
export { freePort, type NatsServer, type StartNatsOptions, startNats } from "./nats-server.js";
export { type Rendezvous, startRendezvous } from "./rendezvous.js";
export { startTcpRelay, type TcpRelay } from "./tcp-relay.js";
