import type { Tx } from "../infra/db/pool.js";
import type { Logger } from "../infra/log.js";
import type { OutboxEvent } from "../producers/outbox.js";
import type { EventPayload, EventType } from "../schemas/index.js";

export type Backoff =
  | { readonly kind: "fixed"; readonly delayMs: number }
  | {
      readonly kind: "exponential";
      readonly initialMs: number;
      readonly maxMs: number;
      /** Growth per attempt; 2 by default. */
      readonly multiplier?: number;
      readonly jitter: boolean;
    };

/**
 * Attempt 1 happens on the main topic; attempt n+1 on the group's retry topic `.retry.<n>`, due `backoff(n)`
 * after the failure. After the last attempt the record goes to the dead-letter topic.
 */
export interface RetryPolicy {
  /** Total attempts, the first included (so attempts-1 retry topics). */
  readonly attempts: number;
  readonly backoff: Backoff;
  /** Which handler errors deserve another attempt. Default: infra/errors.ts isRetryable (unknown → fatal). */
  readonly isRetryable?: (err: unknown) => boolean;
}

/** One event as a handler sees it: the type and its payload, decoded with this code's schema. */
export type ConsumedEvent<T extends EventType> = {
  [K in T]: { readonly type: K; readonly payload: EventPayload<K> };
}[T];

export interface RecordMeta {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * What a handler gets. It never commits, never sleeps, never talks to Kafka: effects go through `tx`,
 * outgoing events through `emit` (the outbox, same transaction), and the runner commits both together
 * with the dedupe record.
 */
export interface HandlerContext {
  readonly tx: Tx;
  readonly now: () => Date;
  readonly newId: () => string;
  readonly log: Logger;
  readonly meta: RecordMeta;
  readonly correlationId: string;
  emit(events: readonly OutboxEvent[]): Promise<void>;
}

/** A processor is declared, not wired: the runner (processors/runner.ts) does delivery, dedupe and retries. */
export interface Processor<T extends EventType = EventType> {
  /** Short name used on the command line: `npm run start:processor -- <name>`. */
  readonly name: string;
  /** Consumer group; every replica of this processor joins it. */
  readonly group: string;
  /** The event types it handles; the runner subscribes to the topics carrying them. */
  readonly events: readonly T[];
  readonly retry: RetryPolicy;
  /**
   * "key": while a record of key K waits in the retry chain, later records of K (for this group) are parked
   * and applied after it, in order; other keys keep flowing. "none" (default): records retry independently.
   */
  readonly ordering?: "key" | "none";
  /**
   * true (default): the runner applies a partition's records a chunk at a time, in one transaction with a
   * savepoint per record (docs/processors.md). false: one transaction per record — for handlers with effects
   * outside the database (a chunk whose commit fails would repeat all of them). Processors with `ordering:
   * "key"` and retry topics are always processed one record at a time.
   */
  readonly batched?: boolean;
  /**
   * For projections: drops what the processor built, so `ops rebuild` can replay its topics into it from the
   * earliest offset. Processors whose effects are not derivable from their topics alone have none.
   */
  readonly rebuild?: { reset(tx: Tx): Promise<void> };
  handle(event: ConsumedEvent<T>, ctx: HandlerContext): Promise<void>;
  /**
   * Optional, for batched processors: the effects of `handle` for several events at once (set-based
   * statements instead of one per event), in order; each event has its own context, all on one `tx`. When it
   * throws, the runner rolls it back and applies the events one by one with `handle`, isolating the failing one.
   */
  handleAll?(
    events: readonly { readonly event: ConsumedEvent<T>; readonly ctx: HandlerContext }[],
  ): Promise<void>;
}
