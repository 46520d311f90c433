/**
 * The byte format of one stored object version in a KV bucket:
 *
 *   byte 0: format version (1)
 *   byte 1: operation that wrote it (1 = create, 2 = update)
 *   rest:   the kind's encoded object (protobuf binary, sealed for secrets)
 *
 * The operation byte lets a resumed watch tell ADDED from MODIFIED without
 * keeping client state, as Kubernetes' watch does from etcd's events.
 */
export const RecordOp = { Create: 1, Update: 2 } as const;
export type RecordOp = (typeof RecordOp)[keyof typeof RecordOp];

const FORMAT = 1;

/** Wraps an encoded object with the record header. */
export function encodeRecord(op: RecordOp, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.length + 2);
  out[0] = FORMAT;
  out[1] = op;
  out.set(payload, 2);
  return out;
}

/** Splits a stored record into its operation and payload. */
export function decodeRecord(bytes: Uint8Array): { op: RecordOp; payload: Uint8Array } {
  if (bytes.length < 2 || bytes[0] !== FORMAT) {
    throw new Error(`unknown record format ${bytes[0] ?? "(empty)"}`);
  }
  const op = bytes[1] === RecordOp.Create ? RecordOp.Create : RecordOp.Update;
  return { op, payload: bytes.subarray(2) };
}
