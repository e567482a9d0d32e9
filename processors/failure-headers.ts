import { AppError } from "../infra/errors.js";
import type { Headers, IncomingRecord } from "../infra/kafka/index.js";

/** Headers the runner adds to retry and dead-letter records. The original key, value and headers stay as they were. */
export const H = {
  originalTopic: "x-original-topic",
  originalPartition: "x-original-partition",
  originalOffset: "x-original-offset",
  originalTimestamp: "x-original-timestamp",
  group: "x-consumer-group",
  /** Attempts made so far. */
  attempt: "x-attempt",
  /** When the record is due for its next attempt (ms since epoch). */
  dueAt: "x-due-at",
  errorClass: "x-error-class",
  errorMessage: "x-error-message",
  firstFailureAt: "x-first-failure-at",
  deadLetteredAt: "x-dead-lettered-at",
} as const;

const MAX_ERROR_MESSAGE = 1000;

/** Where a record came from: for a retry record, its original coordinates; for a main-topic record, itself. */
export interface Origin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: number;
  /** Attempts made before this delivery. */
  readonly attempts: number;
  readonly firstFailureAt: string | undefined;
}

export function originOf(record: IncomingRecord, isRetry: boolean): Origin {
  const h = record.headers;
  if (!isRetry || !h[H.originalTopic]) {
    return {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: record.timestamp,
      attempts: 0,
      firstFailureAt: undefined,
    };
  }
  return {
    topic: h[H.originalTopic] as string,
    partition: Number(h[H.originalPartition]),
    offset: h[H.originalOffset] as string,
    timestamp: Number(h[H.originalTimestamp]),
    attempts: Number(h[H.attempt] ?? 0),
    firstFailureAt: h[H.firstFailureAt],
  };
}

/** The record's own headers without our metadata, plus fresh metadata for this failure. */
export function failureHeaders(
  record: IncomingRecord,
  origin: Origin,
  f: { group: string; attempts: number; err: unknown; now: Date; dueAt?: number; deadLettered?: boolean },
): Headers {
  const own = Object.fromEntries(Object.entries(record.headers).filter(([k]) => !k.startsWith("x-")));
  const e = f.err instanceof Error ? f.err : new Error(String(f.err));
  return {
    ...own,
    [H.originalTopic]: origin.topic,
    [H.originalPartition]: String(origin.partition),
    [H.originalOffset]: origin.offset,
    [H.originalTimestamp]: String(origin.timestamp),
    [H.group]: f.group,
    [H.attempt]: String(f.attempts),
    [H.errorClass]: f.err instanceof AppError ? f.err.code : e.name,
    [H.errorMessage]: e.message.slice(0, MAX_ERROR_MESSAGE),
    [H.firstFailureAt]: origin.firstFailureAt ?? f.now.toISOString(),
    ...(f.dueAt !== undefined ? { [H.dueAt]: String(f.dueAt) } : {}),
    ...(f.deadLettered ? { [H.deadLetteredAt]: f.now.toISOString() } : {}),
  };
}

/** The ids that tie a log line to the request and event that caused it. */
export function trace(record: IncomingRecord): { correlationId?: string; eventId?: string } {
  return { correlationId: record.headers["correlation-id"], eventId: record.headers["event-id"] };
}

export function brief(err: unknown): { name?: string; code?: unknown; message: string } {
  const e = err as { name?: string; code?: unknown; message?: string };
  return { name: e?.name, code: e?.code, message: String(e?.message ?? err).slice(0, 300) };
}
