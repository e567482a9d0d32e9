import { AppError, isRetryable, isUnavailable } from "../infra/errors.js";
import type { IncomingRecord } from "../infra/kafka/index.js";
import type { RetryPolicy } from "./types.js";

/**
 * What becomes of a record whose attempt `attempt` failed with `err`: wait the outage out in place (the
 * record is fine, a dependency is not), send it to the next retry topic, or dead-letter it.
 */
export function fate(err: unknown, attempt: number, policy: RetryPolicy): "wait" | "retry" | "dead-letter" {
  if (isUnavailable(err)) return "wait";
  const retryable = (policy.isRetryable ?? isRetryable)(err);
  return retryable && attempt < policy.attempts ? "retry" : "dead-letter";
}

/**
 * Records refused before decoding, whatever the retry policy says: no value (null or empty: nothing to decode)
 * and values over the size limit (decoding and applying them would cost more than any event is worth).
 */
export function refusal(record: IncomingRecord, maxBytes: number): AppError | undefined {
  const size = record.value?.length ?? 0;
  if (size === 0) return new AppError("event_undecodable", "the record has no value (null or empty)");
  if (size > maxBytes)
    return new AppError(
      "record_too_large",
      `the record's value is ${size} bytes, over the limit of ${maxBytes} (RUNNER_MAX_RECORD_BYTES)`,
    );
  return undefined;
}

/**
 * PostgreSQL's spelling of a uuid (lower case, no braces or hyphens), so event ids from payloads can be matched
 * with the ones a statement returns; undefined when it is not a uuid PostgreSQL would accept.
 */
export function uuidKey(id: string): string | undefined {
  const key = id
    .toLowerCase()
    .replace(/^\{(.*)\}$/, "$1")
    .replaceAll("-", "");
  return /^[0-9a-f]{32}$/.test(key) ? key : undefined;
}
