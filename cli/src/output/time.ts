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

/** RFC 3339 date-time: a date, `T`, a time with optional fraction, and `Z` or an offset. */
const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Parses an RFC 3339 time such as `2025-06-01T12:00:00Z` or
 * `2025-06-01T14:00:00.5+02:00`. Returns undefined for anything else, a time
 * without its offset included (it would mean a different moment on each machine).
 */
export function parseTime(text: string): Date | undefined {
  const trimmed = text.trim();
  if (!rfc3339.test(trimmed)) return undefined;
  const date = new Date(trimmed);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A timestamp as RFC 3339 in UTC to the second, `2025-06-01T12:00:00Z`; `-` when unset. */
export function formatTime(time: Timestamp | undefined): string {
  if (!time) return "-";
  return new Date(timestampMs(time)).toISOString().replace(/\.\d{3}Z$/, "Z");
}
