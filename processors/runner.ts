import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Pool, withTransaction } from "../infra/db/pool.js";
import { AppError, isRetryable, isUnavailable } from "../infra/errors.js";
import type {
  DeliveryControls,
  Disposition,
  EventBus,
  IncomingRecord,
  Publisher,
  Subscription,
} from "../infra/kafka/index.js";
import type { Logger } from "../infra/log.js";
import type { Metrics } from "../infra/metrics.js";
import type { EventCodec } from "../infra/registry.js";
import type { TopicNames } from "../infra/topics.js";
import { enqueue } from "../producers/outbox.js";
import type { EventType } from "../schemas/index.js";
import { backoffDelay } from "./backoff.js";
import { brief, failureHeaders, H, type Origin, originOf, trace } from "./failure-headers.js";
import { KeyOrder } from "./key-order.js";
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
  readonly metrics?: Metrics;
}

export interface RunnerStats {
  processed: number;
  duplicates: number;
  /** Records sent to a retry topic. */
  retried: number;
  deadLettered: number;
  /** Records of a type this processor does not handle, on a topic it reads for other types. */
  skipped: number;
  /** Records parked behind an earlier record of their key (ordering "key"). */
  parked: number;
}

type Outcome = "applied" | "duplicate" | "skipped" | "retrying" | "dead-lettered";

const UNAVAILABLE_BACKOFF = { kind: "exponential", initialMs: 250, maxMs: 5000, jitter: true } as const;
const SWEEP_INTERVAL_MS = 30_000;
const OUTCOME_LABEL: Record<keyof RunnerStats, string> = {
  processed: "processed",
  duplicates: "duplicate",
  retried: "retried",
  deadLettered: "dead_lettered",
  skipped: "skipped",
  parked: "parked",
};

/**
 * Runs one processor as a member of its consumer group, on its topics and its group's retry topics.
 *
 * Exactly-once effects: per record, ONE PostgreSQL transaction inserts the dedupe row (group, event id), runs
 * the handler and writes its outgoing events (outbox); the Kafka offset is committed only after it commits.
 *
 * Non-blocking retries: a retryable failure republishes the record (same key and value bytes, failure
 * headers) to `<topic>.<group>.retry.<n>`, due after the policy's backoff, and the partition moves on. Retry
 * records are held — their partition paused — until due. After the last attempt, or at once for a fatal
 * error (undecodable bytes, unknown schema, validation, programmer error), the record goes to
 * `<topic>.<group>.dlq`. A dependency outage (database, registry) is waited out in place instead, offset
 * uncommitted, heartbeats running: the record is fine, the world is not.
 */
export class ProcessorRunner<T extends EventType> {
  readonly stats: RunnerStats = {
    processed: 0,
    duplicates: 0,
    retried: 0,
    deadLettered: 0,
    skipped: 0,
    parked: 0,
  };
  readonly group: string;
  private readonly topics: string[];
  private readonly retryTopics = new Map<string, { topic: string; level: number }>();
  private readonly handled: ReadonlySet<EventType>;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly newId: () => string;
  private readonly keyOrder: KeyOrder | undefined;
  private subscription: Subscription | undefined;
  private publisher: Publisher | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly processor: Processor<T>,
    private readonly deps: RunnerDeps,
  ) {
    this.group = deps.names.group(processor.group);
    this.topics = [...new Set(processor.events.map((t) => deps.names.event(t)))];
    for (const topic of this.topics) {
      for (let level = 1; level < processor.retry.attempts; level++) {
        this.retryTopics.set(deps.names.retry(topic, this.group, level), { topic, level });
      }
    }
    this.handled = new Set(processor.events);
    this.log = deps.log.child({ processor: processor.name, group: this.group });
    this.now = deps.now ?? (() => new Date());
    this.newId = deps.newId ?? randomUUID;
    this.keyOrder = processor.ordering === "key" ? new KeyOrder(deps.pool, this.group) : undefined;
  }

  async start(): Promise<void> {
    this.publisher = await this.deps.bus.publisher();
    this.subscription = this.deps.bus.subscription({
      groupId: this.group,
      topics: [...this.topics, ...this.retryTopics.keys()],
      fromBeginning: true,
      concurrency: this.deps.concurrency ?? 3,
    });
    await this.subscription.run((record, controls) => this.onRecord(record, controls));
    if (this.keyOrder) this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS).unref();
    this.log.info({ topics: this.topics, retryTopics: [...this.retryTopics.keys()] }, "processor started");
  }

  /** Resolves if the consumer crashed beyond its own recovery. */
  get crashed(): Promise<Error> {
    return this.subscription?.crashed ?? new Promise(() => undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.subscription?.stop();
    await this.publisher?.close();
    this.log.info(this.stats, "processor stopped");
  }

  private async onRecord(record: IncomingRecord, controls: DeliveryControls): Promise<Disposition> {
    const retry = this.retryTopics.get(record.topic);
    if (retry) {
      const dueAt = Number(record.headers[H.dueAt] ?? 0);
      if (dueAt > this.now().getTime()) return { holdUntil: dueAt };
    }
    const origin = originOf(record, retry !== undefined);
    const key = record.key?.toString("utf8");
    if (
      !retry &&
      this.keyOrder &&
      key !== undefined &&
      (await this.keyOrder.parkIfHeld(origin.topic, key, record))
    ) {
      this.count("parked");
      return;
    }
    const outcome = await this.process(record, origin, controls);
    if (retry && this.keyOrder && key !== undefined && outcome !== "retrying") {
      await this.release(origin.topic, key, `${origin.partition}:${origin.offset}`, controls);
    }
  }

  /** One attempt at a record; says what became of it. */
  private async process(
    record: IncomingRecord,
    origin: Origin,
    controls: DeliveryControls,
  ): Promise<Outcome> {
    const attempt = origin.attempts + 1;
    for (let outages = 1; ; outages++) {
      try {
        const decoded = await this.deps.codec.decode(this.deps.names.typesOf(origin.topic), record.value);
        if (!this.handled.has(decoded.type)) {
          this.count("skipped");
          return "skipped";
        }
        const timer = this.deps.metrics?.handlerDuration.startTimer({ group: this.group });
        const applied = await this.apply(
          { type: decoded.type, payload: decoded.payload } as ConsumedEvent<T>,
          record,
          origin,
        );
        timer?.();
        this.count(applied ? "processed" : "duplicates");
        return applied ? "applied" : "duplicate";
      } catch (err) {
        if (isUnavailable(err)) {
          const delay = backoffDelay(UNAVAILABLE_BACKOFF, outages);
          this.log.warn(
            { err: brief(err), delayMs: delay, offset: record.offset, ...trace(record) },
            "dependency unavailable; waiting",
          );
          await this.pause(delay, controls);
          continue;
        }
        const retryable = (this.processor.retry.isRetryable ?? isRetryable)(err);
        if (!retryable || attempt >= this.processor.retry.attempts) {
          await this.deadLetter(record, origin, err, attempt);
          return "dead-lettered";
        }
        await this.toRetry(record, origin, err, attempt);
        return "retrying";
      }
    }
  }

  /** Returns false when the event id was already applied by this group (duplicate delivery, replay, redrive). */
  private apply(event: ConsumedEvent<T>, record: IncomingRecord, origin: Origin): Promise<boolean> {
    const eventId = event.payload.eventId;
    const correlationId = record.headers["correlation-id"] ?? eventId;
    return withTransaction(this.deps.pool, async (tx) => {
      const fresh = await tx.query(
        `INSERT INTO processed_events (consumer_group, event_id, topic, kafka_partition, kafka_offset)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
        [this.group, eventId, origin.topic, origin.partition, origin.offset],
      );
      if (fresh.rowCount === 0) return false;
      const ctx: HandlerContext = {
        tx,
        now: this.now,
        newId: this.newId,
        log: this.log.child({ eventId, correlationId }),
        correlationId,
        meta: {
          topic: origin.topic,
          partition: origin.partition,
          offset: origin.offset,
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

  /** Attempt `attempt` failed: the record goes to retry level `attempt`, due after the policy's delay. */
  private async toRetry(
    record: IncomingRecord,
    origin: Origin,
    err: unknown,
    attempt: number,
  ): Promise<void> {
    const now = this.now();
    const dueAt = now.getTime() + backoffDelay(this.processor.retry.backoff, attempt);
    const topic = this.deps.names.retry(origin.topic, this.group, attempt);
    const headers = failureHeaders(record, origin, { group: this.group, attempts: attempt, err, now, dueAt });
    await this.requirePublisher().publish([
      { topic, key: record.key, value: record.value ?? Buffer.alloc(0), headers },
    ]);
    const key = record.key?.toString("utf8");
    if (this.keyOrder && key !== undefined)
      await this.keyOrder.hold(origin.topic, key, `${origin.partition}:${origin.offset}`);
    this.count("retried");
    this.log.warn(
      { err: brief(err), attempt, topic, dueAt: new Date(dueAt).toISOString(), ...trace(record) },
      "handler failed; retry scheduled",
    );
  }

  private async deadLetter(
    record: IncomingRecord,
    origin: Origin,
    err: unknown,
    attempt: number,
  ): Promise<void> {
    const topic = this.deps.names.deadLetter(origin.topic, this.group);
    const headers = failureHeaders(record, origin, {
      group: this.group,
      attempts: attempt,
      err,
      now: this.now(),
      deadLettered: true,
    });
    // Original key and value bytes unchanged, so a redrive republishes exactly what arrived.
    await this.requirePublisher().publish([
      { topic, key: record.key, value: record.value ?? Buffer.alloc(0), headers },
    ]);
    this.count("deadLettered");
    this.log.error(
      { err: brief(err), topic, offset: origin.offset, attempt, ...trace(record) },
      "record dead-lettered",
    );
  }

  /** The head of key K's chain is done: apply K's parked records in order, until one of them fails again. */
  private async release(
    topic: string,
    key: string,
    heldBy: string,
    controls: DeliveryControls,
  ): Promise<void> {
    const order = this.keyOrder as KeyOrder;
    let owner = heldBy;
    for (;;) {
      const next = await order.next(topic, key, owner);
      if (!next) return;
      owner = `${next.record.partition}:${next.record.offset}`;
      const outcome = await this.process(next.record, originOf(next.record, false), controls);
      await order.unpark(next.id);
      if (outcome === "retrying") return;
    }
  }

  /** Safety net: a hold whose release was lost (crash between steps) is drained after a generous lease. */
  private async sweep(): Promise<void> {
    if (!this.keyOrder) return;
    const b = this.processor.retry.backoff;
    const leaseMs = 10 * 60_000 + 2 * (b.kind === "fixed" ? b.delayMs : b.maxMs);
    try {
      const controls: DeliveryControls = { heartbeat: async () => undefined, stopping: false };
      for (const h of await this.keyOrder.stale(leaseMs))
        await this.release(h.topic, h.key, h.heldBy, controls);
    } catch (err) {
      this.log.warn({ err: brief(err) }, "key-hold sweep failed");
    }
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

  private count(what: keyof RunnerStats): void {
    this.stats[what]++;
    this.deps.metrics?.events.inc({ group: this.group, outcome: OUTCOME_LABEL[what] });
  }

  private requirePublisher(): Publisher {
    if (!this.publisher) throw new Error("runner not started");
    return this.publisher;
  }
}
