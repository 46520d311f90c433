import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  ConnectError,
  createClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";

/** An interceptor that sends a bearer token (none when undefined). */
export function bearer(token: string | undefined): Interceptor {
  return (next) => async (req) => {
    if (token !== undefined) req.header.set("authorization", `Bearer ${token}`);
    return await next(req);
  };
}

/** Transports for each protocol the control plane serves. */
export function transports(baseUrl: string, token: string | undefined) {
  const interceptors = [bearer(token)];
  return {
    connect: createConnectTransport({ baseUrl, httpVersion: "1.1", interceptors }),
    connectJson: createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      useBinaryFormat: false,
      interceptors,
    }),
    grpc: createGrpcTransport({ baseUrl, interceptors }),
    grpcWeb: createGrpcWebTransport({ baseUrl, httpVersion: "1.1", interceptors }),
  };
}

/** A typed client for one service over the Connect protocol. */
export function client<S extends DescService>(
  service: S,
  baseUrl: string,
  token: string | undefined,
  transport?: Transport,
): Client<S> {
  return createClient(service, transport ?? transports(baseUrl, token).connect);
}

/** The ConnectError a call fails with (the test fails if it succeeds). */
export async function rejects(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}
