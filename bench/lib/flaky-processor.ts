import { createHash } from "node:crypto";
import { AppError } from "../../infra/errors.js";
import { H } from "../../processors/failure-headers.js";
import type { Processor } from "../../processors/types.js";

/** Whether `eventId` is one of the `percent` % whose first attempt fails (by hash: the same ids every time). */
export function failsFirst(eventId: string, percent: number): boolean {
  return createHash("sha1").update(eventId).digest().readUInt32BE(0) % 100 < percent;
}

/**
 * A processor for bench/retry.ts only (not in processors/index.ts): on user_registered it records when the
 * event was applied, in the runner's transaction; the first attempt of `failPercent` % of the events (chosen
 * by failsFirst) throws a retryable error instead, so those go through the runner's retry topic and are
 * applied on the second attempt, after `backoffMs`.
 */
export function flakyProcessor(opts: {
  failPercent: number;
  backoffMs: number;
}): Processor<"user_registered"> {
  return {
    name: "bench-flaky",
    group: "bench-flaky",
    events: ["user_registered"],
    retry: {
      attempts: 3,
      backoff: { kind: "fixed", delayMs: opts.backoffMs },
      isRetryable: (err) => err instanceof AppError && err.retryable,
    },
    async handle(event, ctx) {
      const attempt = Number(ctx.meta.headers[H.attempt] ?? 0) + 1;
      if (attempt === 1 && failsFirst(event.payload.eventId, opts.failPercent))
        throw new AppError("internal", "bench: transient failure", { retryable: true });
      await ctx.tx.query(
        "INSERT INTO bench_applied (event_id, applied_at, attempt) VALUES ($1, clock_timestamp(), $2)",
        [event.payload.eventId, attempt],
      );
    },
  };
}
