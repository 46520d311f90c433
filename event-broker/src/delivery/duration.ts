import type { Duration } from "@bufbuild/protobuf/wkt";

export type { Duration };

/** A protobuf Duration in milliseconds (negative ones count as zero). */
export function durationMs(duration: Duration): number {
  return Math.max(0, Number(duration.seconds) * 1000 + Math.floor(duration.nanos / 1_000_000));
}
