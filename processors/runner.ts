import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Pool, withTransaction } from "../infra/db/pool.js";
import { AppError, isRetryable, isUnavailable } from "../infra/errors.js";
import type {
  DeliveryControls,
  EventBus,
  IncomingRecord,
  Publisher,
  Subscription,
} from "../infra/kafka/index.js";
import type { Logger } from "../infra/log.js";
import type { EventCodec } from "../infra/registry.js";
import type { TopicNames } from "../infra/topics.js";
import { enqueue } from "../producers/outbox.js";
import type { EventType } from "../schemas/index.js";
import { backoffDelay } from "./backoff.js";
import type { ConsumedEvent, HandlerContext, Processor } from "./types.js";

export interface RunnerDeps {
  readonly bus: EventBus;
  readonly codec: EventCodec;
  readonly pool: Pool;
  readonly names: TopicNames;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** Partitions handled in parallel by this member. */
  readonly concurrency?: number;
}

export interface RunnerStats {
  processed: number;
  duplicates: number;
  deadLettered: number;
  retried: number;
  /** Records of a type this processor does not handle, on a topic it reads for other types. */
  skipped: number;
}

const MAX_ERROR_MESSAGE = 1000;
const UNAVAILABLE_BACKOFF = { kind: "exponential", initialMs: 250, maxMs: 5000, jitter: true } as const;

/**
 * Runs one processor as a member of its consumer group.
 *
 * Per record: decode (failure → dead-letter at once), then in ONE PostgreSQL transaction insert the dedupe
 * row (group, event id), run the handler and write its outgoing events to the outbox; commit; only then is
 * the Kafka offset committed. A redelivered or replayed event finds its dedupe row and has no second effect.
 *
 * Failures: a dependency outage (database, registry) is waited out with backoff — the offset is not
 * committed meanwhile; a retryable handler error is retried per the processor's policy, then dead-lettered
 * with failure metadata headers; a fatal error is dead-lettered at once. The partition never stalls on a
 * poison record. Heartbeats continue during waits so the group does not rebalance.
 */
export class ProcessorRunner<T extends EventType> {
  readonly stats: RunnerStats = { processed: 0, duplicates: 0, deadLettered: 0, retried: 0, skipped: 0 };
  readonly group: string;
  private readonly topics: string[];
  private readonly handled: ReadonlySet<EventType>;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly newId: () => string;
  private subscription: Subscription | undefined;
  private publisher: Publisher | undefined;

  constructor(
    private readonly processor: Processor<T>,
    private readonly deps: RunnerDeps,
  ) {
    this.group = deps.names.group(processor.group);
    this.topics = [...new Set(processor.events.map((t) => deps.names.event(t)))];
    this.handled = new Set(processor.events);
    this.log = deps.log.child({ processor: processor.name, group: this.group });
    this.now = deps.now ?? (() => new Date());
    this.newId = deps.newId ?? randomUUID;
  }

  async start(): Promise<void> {
    this.publisher = await this.deps.bus.publisher();
    this.subscription = this.deps.bus.subscription({
      groupId: this.group,
      topics: this.topics,
      fromBeginning: true,
      concurrency: this.deps.concurrency ?? 3,
    });
    await this.subscription.run((record, controls) => this.onRecord(record, controls));
    this.log.info({ topics: this.topics }, "processor started");
  }

  /** Resolves if the consumer crashed beyond its own recovery. */
  get crashed(): Promise<Error> {
    return this.subscription?.crashed ?? new Promise(() => undefined);
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    await this.publisher?.close();
    this.log.info(this.stats, "processor stopped");
  }

  private async onRecord(record: IncomingRecord, controls: DeliveryControls): Promise<void> {
    const types = this.deps.names.typesOf(record.topic);
    const firstFailureAt = { value: undefined as Date | undefined };
    let attempt = 1;
    let outages = 0;
    for (;;) {
      try {
        const decoded = await this.deps.codec.decode(types, record.value);
        if (!this.handled.has(decoded.type)) {
          this.stats.skipped++;
          return;
        }
        const event = { type: decoded.type, payload: decoded.payload } as ConsumedEvent<T>;
        const applied = await this.apply(event, record);
        if (applied) this.stats.processed++;
        else this.stats.duplicates++;
        return;
      } catch (err) {
        firstFailureAt.value ??= this.now();
        if (isUnavailable(err)) {
          // The dependency is down, the record is fine: wait, keep the offset uncommitted, do not burn attempts.
          outages++;
          const delay = backoffDelay(UNAVAILABLE_BACKOFF, outages);
          this.log.warn(
            { err: brief(err), delayMs: delay, offset: record.offset },
            "dependency unavailable; waiting",
          );
          await this.pause(delay, controls);
          continue;
        }
        const retryable = (this.processor.retry.isRetryable ?? isRetryable)(err);
        if (!retryable || attempt >= this.processor.retry.attempts) {
          await this.deadLetter(record, err, attempt, firstFailureAt.value);
          return;
        }
        const delay = backoffDelay(this.processor.retry.backoff, attempt);
        this.stats.retried++;
        this.log.warn(
          { err: brief(err), attempt, delayMs: delay, offset: record.offset },
          "handler failed; retrying",
        );
        await this.pause(delay, controls);
        attempt++;
      }
    }
  }

  /** Returns false when the event id was already applied by this group (duplicate delivery or replay). */
  private apply(event: ConsumedEvent<T>, record: IncomingRecord): Promise<boolean> {
    const eventId = event.payload.eventId;
    const correlationId = record.headers["correlation-id"] ?? eventId;
    return withTransaction(this.deps.pool, async (tx) => {
      const fresh = await tx.query(
        `INSERT INTO processed_events (consumer_group, event_id, topic, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [this.group, eventId, record.topic, record.partition, record.offset],
      );
      if (fresh.rowCount === 0) return false;
      const log = this.log.child({ eventId, correlationId });
      const ctx: HandlerContext = {
        tx,
        now: this.now,
        newId: this.newId,
        log,
        correlationId,
        meta: {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          headers: record.headers,
        },
        emit: (events) =>
          enqueue(
            tx,
            events.map((e) => ({
              ...e,
              headers: { "correlation-id": correlationId, "causation-id": eventId, ...e.headers },
            })),
          ),
      };
      await this.processor.handle(event, ctx);
      return true;
    });
  }

  private async deadLetter(
    record: IncomingRecord,
    err: unknown,
    attempt: number,
    firstFailureAt: Date,
  ): Promise<void> {
    const topic = this.deps.names.deadLetter(record.topic, this.group);
    const e = err instanceof Error ? err : new Error(String(err));
    const headers: Record<string, string> = {
      ...record.headers,
      "x-original-topic": record.topic,
      "x-original-partition": String(record.partition),
      "x-original-offset": record.offset,
      "x-original-timestamp": String(record.timestamp),
      "x-consumer-group": this.group,
      "x-attempt": String(attempt),
      "x-error-class": err instanceof AppError ? err.code : e.name,
      "x-error-message": e.message.slice(0, MAX_ERROR_MESSAGE),
      "x-first-failure-at": firstFailureAt.toISOString(),
      "x-dead-lettered-at": this.now().toISOString(),
    };
    if (!this.publisher) throw new Error("runner not started");
    // Original key and value bytes unchanged, so a redrive republishes exactly what arrived.
    await this.publisher.publish([
      { topic, key: record.key, value: record.value ?? Buffer.alloc(0), headers },
    ]);
    this.stats.deadLettered++;
    this.log.error({ err: brief(err), topic, offset: record.offset, attempt }, "record dead-lettered");
  }

  /** Waits `ms` while heartbeating; gives up when stopping so the record is redelivered, not committed. */
  private async pause(ms: number, controls: DeliveryControls): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (controls.stopping)
        throw new AppError("service_unavailable", "stopping before the record was applied");
      await sleep(Math.min(1000, until - Date.now()));
      await controls.heartbeat().catch(() => undefined);
    }
  }
}

function brief(err: unknown): { name?: string; code?: unknown; message: string } {
  const e = err as { name?: string; code?: unknown; message?: string };
  return { name: e?.name, code: e?.code, message: String(e?.message ?? err).slice(0, 300) };
}
