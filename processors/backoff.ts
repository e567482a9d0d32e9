import type { Backoff } from "./types.js";

/** Delay before attempt `attempt + 1` (attempt counts from 1). `random` is injectable for tests. */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random): number {
  if (b.kind === "fixed") return b.delayMs;
  const raw = Math.min(b.maxMs, b.initialMs * (b.multiplier ?? 2) ** Math.max(0, attempt - 1));
  // "Equal jitter": half fixed, half random, so retries of many records spread out but never collapse to 0.
  return b.jitter ? Math.round(raw / 2 + random() * (raw / 2)) : raw;
}
