import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Pool, type Tx, withTransaction } from "../infra/db/pool.js";
import { AppError, isUnavailable } from "../infra/errors.js";
import type {
  BatchControls,
  DeliveryControls,
  Disposition,
  EventBus,
  IncomingRecord,
  OutgoingRecord,
  Publisher,
  RecordBatch,
  Subscription,
} from "../infra/kafka/index.js";
import type { Logger } from "../infra/log.js";
import type { Metrics } from "../infra/metrics.js";
import type { EventCodec } from "../infra/registry.js";
import type { TopicNames } from "../infra/topics.js";
import { enqueue, type OutboxEvent } from "../producers/outbox.js";
import type { EventType } from "../schemas/index.js";
import { backoffDelay } from "./backoff.js";
import { applyChunk, type ChunkItem, claim, type ItemResult } from "./batch.js";
import { brief, failureHeaders, H, type Origin, originOf, trace } from "./failure-headers.js";
import { fate, refusal, uuidKey } from "./fate.js";
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
  /** Most records applied in one transaction when batching (RUNNER_BATCH_MAX). Default 64. */
  readonly batchMax?: number;
  /** Records with a larger value are dead-lettered undecoded, `record_too_large` (RUNNER_MAX_RECORD_BYTES). */
  readonly maxRecordBytes?: number;
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
  /** PostgreSQL transactions that applied records: one per record, or one per chunk when batched. */
  transactions: number;
}

type Counted = Exclude<keyof RunnerStats, "transactions">;

/** A record that failed an attempt, on its way to a retry topic or the dead-letter topic. */
interface Failure {
  readonly record: IncomingRecord;
  readonly origin: Origin;
  readonly err: unknown;
  readonly attempt: number;
  readonly to: "retry" | "dead-letter";
}

type Outcome = "applied" | "duplicate" | "skipped" | "retrying" | "dead-lettered";

const UNAVAILABLE_BACKOFF = { kind: "exponential", initialMs: 250, maxMs: 5000, jitter: true } as const;
const SWEEP_INTERVAL_MS = 30_000;
const DEFAULT_BATCH_MAX = 64;
const DEFAULT_MAX_RECORD_BYTES = 512 * 1024;
const OUTCOME_LABEL: Record<Counted, string> = {
  processed: "processed",
  duplicates: "duplicate",
  retried: "retried",
  deadLettered: "dead_lettered",
  skipped: "skipped",
  parked: "parked",
};

/**
 * Runs one processor as a member of its consumer group on its topics, and as a member of `<group>.retry` on
 * its group's retry topics: two consumers, so the retry path (records held until due, one transaction each)
 * never holds up the fetches of the main topics (kafkajs fetches all of a consumer's partitions in lockstep).
 * Dedupe rows, key holds and failure headers all use the processor's group.
 *
 * Exactly-once effects: the dedupe row (group, event id), the handler's writes and its outgoing events
 * (outbox) commit in one PostgreSQL transaction; the Kafka offset is committed only after it commits.
 * Batched (the default for processors without per-key order): the records of a fetched chunk of a partition
 * share one transaction, a savepoint each, so a failing record leaves no trace and the others still apply
 * (processors/batch.ts). Otherwise, and on retry topics: one transaction per record.
 *
 * Non-blocking retries: a retryable failure republishes the record (same key and value bytes, failure
 * headers) to `<topic>.<group>.retry.<n>`, due after the policy's backoff, and the partition moves on. Retry
 * records are held — their partition paused — until due. After the last attempt, or at once for a fatal
 * error (undecodable bytes, unknown schema, too large, validation, programmer error), the record goes to
 * `<topic>.<group>.dlq`. A failed record is published before any offset past it is committed. A dependency
 * outage (database, registry) is waited out in place instead, offset uncommitted, heartbeats running: the
 * record is fine, the world is not.
 */
export class ProcessorRunner<T extends EventType> {
  readonly stats: RunnerStats = {
    processed: 0,
    duplicates: 0,
    retried: 0,
    deadLettered: 0,
    skipped: 0,
    parked: 0,
    transactions: 0,
  };
  readonly group: string;
  private readonly topics: string[];
  private readonly retryTopics = new Map<string, { topic: string; level: number }>();
  private readonly handled: ReadonlySet<EventType>;
  private readonly log: Logger;
  private readonly now: () => Date;
  private readonly newId: () => string;
  private readonly keyOrder: KeyOrder | undefined;
  private readonly batched: boolean;
  private readonly maxRecordBytes: number;
  private subscription: Subscription | undefined;
  /** The retry topics' own consumer (group `<group>.retry`); none when the policy makes a single attempt. */
  private retrySubscription: Subscription | undefined;
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
    // Per-key order parks and releases records one at a time (key-order.ts): those processors stay per record.
    this.batched = processor.batched !== false && !this.keyOrder;
    this.maxRecordBytes = deps.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  async start(): Promise<void> {
    this.publisher = await this.deps.bus.publisher();
    const options = {
      fromBeginning: true,
      concurrency: this.deps.concurrency ?? 3,
      batchMax: this.deps.batchMax ?? DEFAULT_BATCH_MAX,
    };
    this.subscription = this.deps.bus.subscription({ ...options, groupId: this.group, topics: this.topics });
    const retryGroup = this.deps.names.retryGroup(this.group);
    if (this.retryTopics.size > 0) {
      this.retrySubscription = this.deps.bus.subscription({
        ...options,
        groupId: retryGroup,
        topics: [...this.retryTopics.keys()],
      });
    }
    const handler = (batch: RecordBatch, controls: BatchControls) => this.onBatch(batch, controls);
    await Promise.all([this.subscription, this.retrySubscription].map((s) => s?.runBatches(handler)));
    if (this.keyOrder) this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS).unref();
    this.log.info(
      {
        topics: this.topics,
        retryTopics: [...this.retryTopics.keys()],
        retryGroup: this.retrySubscription ? retryGroup : undefined,
        batched: this.batched,
      },
      "processor started",
    );
  }

  /** Resolves if either consumer (main or retry topics) crashed beyond its own recovery. */
  get crashed(): Promise<Error> {
    const crashes = [this.subscription, this.retrySubscription].flatMap((s) => (s ? [s.crashed] : []));
    return crashes.length ? Promise.race(crashes) : new Promise(() => undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    const stopped = await Promise.allSettled([this.subscription?.stop(), this.retrySubscription?.stop()]);
    await this.publisher?.close();
    for (const s of stopped) if (s.status === "rejected") throw s.reason;
    this.log.info(this.stats, "processor stopped");
  }

  private async onBatch(batch: RecordBatch, controls: BatchControls): Promise<Disposition> {
    if (this.batched && !this.retryTopics.has(batch.topic)) return this.applyBatch(batch, controls);
    for (const record of batch.records) {
      const disposition = await this.onRecord(record, controls);
      if (disposition) return disposition;
      controls.resolve(record.offset);
      await controls.heartbeat();
    }
  }

  /**
   * Batched processing of a main-topic chunk: applies it in one transaction (as far as a dependency outage lets
   * it: the rest waits, then goes on from there), publishes its failed records, then resolves the offsets.
   * A chunk that fails as a whole for another reason is applied again one record at a time, which isolates
   * the record at fault.
   */
  private async applyBatch(batch: RecordBatch, controls: BatchControls): Promise<void> {
    let from = 0;
    for (let outages = 1; from < batch.records.length; outages++) {
      const records = batch.records.slice(from);
      let outage: unknown;
      try {
        const sorted = await this.sortOut(records);
        const chunk = await this.commitChunk(batch, sorted.items);
        const last = records[chunk.done - 1];
        if (last) {
          controls.resolve(last.offset);
          from += chunk.done;
          outages = 0;
        }
        outage = chunk.unavailable ?? sorted.unavailable;
        if (outage === undefined) continue;
      } catch (err) {
        if (!isUnavailable(err)) {
          this.log.warn(
            { err: brief(err), topic: batch.topic, partition: batch.partition, offset: records[0]?.offset },
            "batch failed; applying its records one at a time",
          );
          for (const record of records) {
            await this.onRecord(record, controls);
            controls.resolve(record.offset);
          }
          return;
        }
        outage = err;
      }
      const delay = backoffDelay(UNAVAILABLE_BACKOFF, Math.max(1, outages));
      this.log.warn(
        {
          err: brief(outage),
          delayMs: delay,
          partition: batch.partition,
          offset: batch.records[from]?.offset,
        },
        "dependency unavailable; waiting",
      );
      if (!(await this.wait(delay, controls))) return;
    }
  }

  /** Decodes a chunk's records before the transaction; stops at a registry outage (the rest waits). */
  private async sortOut(
    records: readonly IncomingRecord[],
  ): Promise<{ items: ChunkItem<T>[]; unavailable?: unknown }> {
    const items: ChunkItem<T>[] = [];
    for (const record of records) {
      try {
        items.push(await this.sortOne(record, record.topic));
      } catch (err) {
        return { items, unavailable: err };
      }
    }
    return { items };
  }

  /**
   * What a record is before any transaction, on both paths (chunks and one record at a time): refused (no value,
   * too large), of a type this processor does not handle, undecodable or invalid, or an event to apply. `topic`
   * is the one whose types it carries: for a retry record, the topic it first came from.
   * Rejects only when a dependency (the registry) is unavailable.
   */
  private async sortOne(record: IncomingRecord, topic: string): Promise<ChunkItem<T>> {
    const refused = refusal(record, this.maxRecordBytes);
    if (refused) return { kind: "failed", record, err: refused, fatal: true };
    try {
      const decoded = await this.deps.codec.decode(this.deps.names.typesOf(topic), record.value);
      if (!this.handled.has(decoded.type)) return { kind: "skipped", record };
      if (!uuidKey(decoded.payload.eventId)) {
        const err = new AppError("event_invalid", `eventId ${decoded.payload.eventId} is not a uuid`);
        return { kind: "failed", record, err, fatal: true };
      }
      return {
        kind: "event",
        record,
        event: { type: decoded.type, payload: decoded.payload } as ConsumedEvent<T>,
      };
    } catch (err) {
      if (isUnavailable(err)) throw err;
      return { kind: "failed", record, err, fatal: false };
    }
  }

  /** One transaction for `items`; then their failures are published and everything counted. */
  private async commitChunk(
    batch: RecordBatch,
    items: readonly ChunkItem<T>[],
  ): Promise<{ done: number; unavailable?: unknown }> {
    if (items.length === 0) return { done: 0 };
    const started = performance.now();
    const where = { group: this.group, topic: batch.topic, partition: batch.partition };
    const handleAll = this.processor.handleAll?.bind(this.processor);
    const { results, unavailable } = await withTransaction(this.deps.pool, (tx) =>
      applyChunk(
        tx,
        where,
        items,
        (event, record, tx, emit) =>
          this.processor.handle(event, this.context(tx, event, record, originOf(record, false), emit)),
        handleAll &&
          ((events, tx) =>
            handleAll(
              events.map(({ event, record, emit }) => ({
                event,
                ctx: this.context(tx, event, record, originOf(record, false), emit),
              })),
            )),
      ),
    );
    this.transacted();
    const failures = results.flatMap((r) =>
      r.kind === "failed" ? [this.failure(r, originOf(r.record, false), 1)] : [],
    );
    await this.fail(failures);
    for (const r of results) this.tally(r);
    this.log.debug(
      {
        topic: batch.topic,
        partition: batch.partition,
        from: results[0]?.record.offset,
        records: results.length,
        failed: failures.length,
        ms: Math.round(performance.now() - started),
      },
      "batch applied",
    );
    return { done: results.length, unavailable };
  }

  private tally(r: ItemResult): void {
    if (r.kind === "applied") {
      this.count("processed");
      this.deps.metrics?.handlerDuration.observe({ group: this.group }, r.seconds);
    } else if (r.kind === "duplicate") this.count("duplicates");
    else if (r.kind === "skipped") this.count("skipped");
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

  /** One attempt at a record, in a transaction of its own; says what became of it. */
  private async process(
    record: IncomingRecord,
    origin: Origin,
    controls: DeliveryControls,
  ): Promise<Outcome> {
    const attempt = origin.attempts + 1;
    for (let outages = 1; ; outages++) {
      let item: ChunkItem<T>;
      try {
        item = await this.sortOne(record, origin.topic);
        if (item.kind === "event") {
          const timer = this.deps.metrics?.handlerDuration.startTimer({ group: this.group });
          const applied = await this.apply(item.event, record, origin);
          timer?.();
          this.count(applied ? "processed" : "duplicates");
          return applied ? "applied" : "duplicate";
        }
      } catch (err) {
        const to = fate(err, attempt, this.processor.retry);
        if (to === "wait") {
          const delay = backoffDelay(UNAVAILABLE_BACKOFF, outages);
          this.log.warn(
            { err: brief(err), delayMs: delay, offset: record.offset, ...trace(record) },
            "dependency unavailable; waiting",
          );
          if (!(await this.wait(delay, controls)))
            throw new AppError("service_unavailable", "stopping before the record was applied");
          continue;
        }
        await this.fail([{ record, origin, err, attempt, to }]);
        return to === "retry" ? "retrying" : "dead-lettered";
      }
      if (item.kind === "skipped") {
        this.count("skipped");
        return "skipped";
      }
      if (item.kind === "failed") {
        const failure = this.failure(item, origin, attempt);
        await this.fail([failure]);
        return failure.to === "retry" ? "retrying" : "dead-lettered";
      }
    }
  }

  /** Returns false when the event id was already applied by this group (duplicate delivery, replay, redrive). */
  private async apply(event: ConsumedEvent<T>, record: IncomingRecord, origin: Origin): Promise<boolean> {
    const applied = await withTransaction(this.deps.pool, async (tx) => {
      const row = { group: this.group, eventId: event.payload.eventId, ...origin };
      if (!(await claim(tx, row))) return false;
      await this.processor.handle(
        event,
        this.context(tx, event, record, origin, (events) => enqueue(tx, events)),
      );
      return true;
    });
    this.transacted();
    return applied;
  }

  /** The handler's view; `emit` receives its outgoing events with correlation and causation headers. */
  private context(
    tx: Tx,
    event: ConsumedEvent<T>,
    record: IncomingRecord,
    origin: Origin,
    emit: (events: readonly OutboxEvent[]) => Promise<void> | void,
  ): HandlerContext {
    const eventId = event.payload.eventId;
    const correlationId = record.headers["correlation-id"] ?? eventId;
    const parent = this.log;
    let log: Logger | undefined;
    return {
      tx,
      now: this.now,
      newId: this.newId,
      // Made on first use: most handlers log nothing per event at the usual levels, and a pino child per record
      // is a measurable share of a batched chunk's CPU.
      get log() {
        log ??= parent.child({ eventId, correlationId });
        return log;
      },
      correlationId,
      meta: {
        topic: origin.topic,
        partition: origin.partition,
        offset: origin.offset,
        headers: record.headers,
      },
      emit: async (events) => {
        await emit(
          events.map((e) => ({
            ...e,
            headers: { "correlation-id": correlationId, "causation-id": eventId, ...e.headers },
          })),
        );
      },
    };
  }

  /** Where a record that failed attempt `attempt` goes: fatal failures to the DLQ, others as the policy says. */
  private failure(
    r: { readonly record: IncomingRecord; readonly err: unknown; readonly fatal: boolean },
    origin: Origin,
    attempt: number,
  ): Failure {
    const to = r.fatal ? "dead-letter" : fate(r.err, attempt, this.processor.retry);
    return { record: r.record, origin, err: r.err, attempt, to: to === "retry" ? to : "dead-letter" };
  }

  /**
   * Publishes failed records — to the retry topic of their attempt, due after the policy's delay, or to the
   * dead-letter topic — in one call, original key and value bytes unchanged (a redrive republishes exactly
   * what arrived). Resolves once the broker has them all.
   *
   * With per-key order, the key is held before its record is published: the retry topics have their own
   * consumer, which may apply the retry record (and release the key) as soon as it is due, so the hold must
   * already be there. If the publish then fails, the record is delivered again and parks behind its own hold
   * until the published copy (if it landed) or the sweep releases it: late, never out of order.
   */
  private async fail(failures: readonly Failure[]): Promise<void> {
    if (failures.length === 0) return;
    const now = this.now();
    const out = failures.map((f) => this.failureRecord(f, now));
    for (const f of failures) {
      const key = f.record.key?.toString("utf8");
      if (f.to === "retry" && this.keyOrder && key !== undefined)
        await this.keyOrder.hold(f.origin.topic, key, `${f.origin.partition}:${f.origin.offset}`);
    }
    await this.requirePublisher().publish(out.map((o) => o.record));
    for (const [i, f] of failures.entries()) {
      const { record: sent, dueAt } = out[i] as (typeof out)[number];
      const ids = { err: brief(f.err), attempt: f.attempt, topic: sent.topic, ...trace(f.record) };
      if (f.to === "dead-letter") {
        this.count("deadLettered");
        this.log.error({ ...ids, offset: f.origin.offset }, "record dead-lettered");
        continue;
      }
      this.count("retried");
      this.log.warn({ ...ids, dueAt: new Date(dueAt ?? 0).toISOString() }, "handler failed; retry scheduled");
    }
  }

  private failureRecord(f: Failure, now: Date): { record: OutgoingRecord; dueAt?: number } {
    const base = { group: this.group, attempts: f.attempt, err: f.err, now };
    const value = f.record.value ?? Buffer.alloc(0);
    if (f.to === "dead-letter") {
      const headers = failureHeaders(f.record, f.origin, { ...base, deadLettered: true });
      const topic = this.deps.names.deadLetter(f.origin.topic, this.group);
      return { record: { topic, key: f.record.key, value, headers } };
    }
    // Attempt `attempt` failed: the record goes to retry level `attempt`, due after the policy's delay.
    const dueAt = now.getTime() + backoffDelay(this.processor.retry.backoff, f.attempt);
    const headers = failureHeaders(f.record, f.origin, { ...base, dueAt });
    const topic = this.deps.names.retry(f.origin.topic, this.group, f.attempt);
    return { record: { topic, key: f.record.key, value, headers }, dueAt };
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

  /** Waits `ms` while heartbeating; false (at once) when stopping, so the record is redelivered, not committed. */
  private async wait(ms: number, controls: DeliveryControls): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (controls.stopping) return false;
      await sleep(Math.min(1000, until - Date.now()));
      await controls.heartbeat().catch(() => undefined);
    }
    return !controls.stopping;
  }

  private count(what: Counted): void {
    this.stats[what]++;
    this.deps.metrics?.events.inc({ group: this.group, outcome: OUTCOME_LABEL[what] });
  }

  private transacted(): void {
    this.stats.transactions++;
    this.deps.metrics?.processorTransactions.inc({ group: this.group });
  }

  private requirePublisher(): Publisher {
    if (!this.publisher) throw new Error("runner not started");
    return this.publisher;
  }
}
