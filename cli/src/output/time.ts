import { type Duration, durationMs, type Timestamp, timestampMs } from "@bufbuild/protobuf/wkt";

/**
 * How long ago `then` was, in the style of `kubectl get`: `45s`, `12m`, `5h`, `3d`.
 * `-` when unknown.
 */
export function formatAge(then: Timestamp | undefined, now: Date): string {
  if (!then) return "-";
  const ms = now.getTime() - timestampMs(then);
  return formatMillis(Math.max(0, ms), false);
}

/** A protobuf Duration as `850ms`, `12.3s`, `4m10s`; `-` when unset. */
export function formatDuration(duration: Duration | undefined): string {
  if (!duration) return "-";
  return formatMillis(durationMs(duration), true);
}

function formatMillis(ms: number, precise: boolean): string {
  const s = ms / 1000;
  if (precise && s < 1) return `${Math.round(ms)}ms`;
  if (s < 60) return precise ? `${Number(s.toFixed(s < 10 ? 2 : 1))}s` : `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return precise ? `${m}m${Math.floor(s % 60)}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return precise ? `${h}h${m % 60}m` : `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/**
 * Parses a duration flag such as `2m`, `90s`, `1h30m` or `500ms` into milliseconds.
 * A bare number is seconds. Returns undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let matched = 0;
  part.lastIndex = 0;
  for (let m = part.exec(trimmed); m; m = part.exec(trimmed)) {
    total += Number(m[1]) * (units[m[2] as string] ?? 0);
    matched = part.lastIndex;
  }
  return matched > 0 && matched === trimmed.length ? total : undefined;
}
