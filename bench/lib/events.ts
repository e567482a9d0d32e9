import { randomUUID } from "node:crypto";
import { loadConfig } from "../../infra/config.js";
import { type BusAdmin, createKafkaBus, type EventBus, type Publisher } from "../../infra/kafka/index.js";
import { createLogger } from "../../infra/log.js";
import { EventCodec } from "../../infra/registry.js";
import { type TopicNames, topicNames } from "../../infra/topics.js";
import type { EventPayload } from "../../schemas/index.js";

export type UserRegistered = EventPayload<"user_registered">;

/** A valid user_registered payload for a new user (what the API's outbox row would hold). */
export function userRegistered(tag: string, i: number, occurredAt = Date.now()): UserRegistered {
  return {
    eventId: randomUUID(),
    occurredAt,
    userId: randomUUID(),
    email: `${tag}-${i}@bench.example.com`,
    displayName: `Bench ${i}`,
  };
}

export interface Lag {
  /** Records on the topics not yet committed by the group. */
  readonly lag: number;
  /** Records the group has committed. */
  readonly committed: number;
  /** Records on the topics (high − low watermarks). */
  readonly total: number;
}

/**
 * The project's own Kafka adapters (infra/kafka, infra/registry.ts, infra/topics.ts), configured like the
 * run's services, for the benchmark process itself: producing Avro events in the Confluent wire format with
 * the registered schemas, and reading consumer-group lag.
 */
export class BenchEvents {
  readonly bus: EventBus;
  readonly codec: EventCodec;
  readonly names: TopicNames;
  readonly partitions: number;
  private publisherP: Promise<Publisher> | undefined;
  private adminP: Promise<BusAdmin> | undefined;

  constructor(env: NodeJS.ProcessEnv) {
    const config = loadConfig(env);
    this.names = topicNames(config);
    this.partitions = config.kafka.partitions;
    this.bus = createKafkaBus({
      brokers: config.kafka.brokers,
      clientId: "walletstream-bench",
      // kafkajs retries what it logs at error level (leader moves after topic creation); failures still throw.
      log: createLogger({ level: "fatal", service: "bench" }),
    });
    this.codec = new EventCodec(config.registry.url, this.names);
  }

  get userTopic(): string {
    return this.names.event("user_registered");
  }

  /** Publishes user_registered events (keyed by user id, acks=all), as the relay would. */
  async publishUsers(payloads: readonly UserRegistered[]): Promise<void> {
    this.publisherP ??= this.bus.publisher();
    const publisher = await this.publisherP;
    const records = await Promise.all(
      payloads.map(async (p) => ({
        topic: this.userTopic,
        key: p.userId,
        value: await this.codec.encode("user_registered", p),
        headers: { "event-type": "user_registered", "event-id": p.eventId, "correlation-id": p.eventId },
      })),
    );
    await publisher.publish(records);
  }

  /** `n` user_registered events as fast as the broker takes them, in batches of `batch` (setup, not measured). */
  async fillUsers(tag: string, n: number, progress: (done: number) => void, batch = 2000): Promise<void> {
    let lastReport = performance.now();
    for (let i = 0; i < n; i += batch) {
      const count = Math.min(batch, n - i);
      await this.publishUsers(Array.from({ length: count }, (_, k) => userRegistered(tag, i + k)));
      if (performance.now() - lastReport > 5000) {
        progress(i + count);
        lastReport = performance.now();
      }
    }
  }

  /**
   * user_registered at a steady `rate` for `seconds` (open loop, openLoop below); each event's occurredAt is
   * the time it was handed to the producer. Resolves with every payload sent.
   */
  async steadyUsers(
    tag: string,
    rate: number,
    seconds: number,
    signal?: AbortSignal,
  ): Promise<{ sent: UserRegistered[]; seconds: number; maxLateMs: number }> {
    const sent: UserRegistered[] = [];
    const schedule = await openLoop(
      rate,
      seconds,
      async (first, count) => {
        const now = Date.now();
        const batch = Array.from({ length: count }, (_, k) => userRegistered(tag, first + k, now));
        await this.publishUsers(batch);
        sent.push(...batch);
      },
      signal,
    );
    return { sent, seconds: schedule.seconds, maxLateMs: schedule.maxLateMs };
  }

  /** Lag of `group` over `topics` (a group without a committed offset starts at the low watermark). */
  async lag(group: string, topics: readonly string[]): Promise<Lag> {
    this.adminP ??= this.bus.admin();
    const admin = await this.adminP;
    let lag = 0;
    let committed = 0;
    let total = 0;
    for (const topic of topics) {
      const ends = await admin.topicOffsets(topic);
      const done = new Map(
        (await admin.groupOffsets(group, topic)).map((o) => [o.partition, BigInt(o.offset)]),
      );
      for (const e of ends) {
        const low = BigInt(e.low);
        const high = BigInt(e.high);
        const c = done.get(e.partition);
        const at = c === undefined || c < low ? low : c;
        lag += Number(high - at);
        committed += Number(at - low);
        total += Number(high - low);
      }
    }
    return { lag, committed, total };
  }

  async close(): Promise<void> {
    const [publisher, admin] = await Promise.all([
      this.publisherP?.catch(() => undefined),
      this.adminP?.catch(() => undefined),
    ]);
    await publisher?.close().catch(() => undefined);
    await admin?.close().catch(() => undefined);
  }
}

/**
 * An open-loop arrival schedule: `rate` arrivals per second for `seconds`, the i-th due at i / rate whatever
 * happened to the earlier ones. Every `tickMs` the arrivals that came due are handed to `fire` (their first
 * index and count); `fire` may await (a publish) — the next tick then hands over everything due meanwhile, so
 * the schedule never slips, only the batch grows. `signal` ends it early. Resolves with the count fired and the
 * worst lateness.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  fire: (first: number, count: number) => Promise<void> | void,
  signal?: AbortSignal,
  tickMs = 10,
): Promise<{ fired: number; seconds: number; maxLateMs: number }> {
  const total = Math.round(rate * seconds);
  const t0 = performance.now();
  let fired = 0;
  let maxLateMs = 0;
  while (fired < total && !signal?.aborted) {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - t0) / 1000) * rate) + 1);
    if (due > fired) {
      maxLateMs = Math.max(maxLateMs, now - t0 - (fired / rate) * 1000);
      const first = fired;
      fired = due;
      await fire(first, due - first);
    }
    const next = t0 + (fired / rate) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, Math.min(tickMs, next - performance.now()))));
  }
  return { fired, seconds: (performance.now() - t0) / 1000, maxLateMs: Math.round(maxLateMs) };
}

/**
 * Polls `probe` every `everyMs` until `done` says so; returns the first time (ms on the performance clock)
 * the count moved past its first value and when it finished, so rates can exclude start-up. Throws after
 * `timeoutMs`, or when `check` throws (a service died).
 */
export async function waitDrained(opts: {
  probe: () => Promise<{ count: number; done: boolean }>;
  everyMs?: number;
  timeoutMs: number;
  check?: () => void;
  progress?: (count: number) => void;
}): Promise<{ startCount: number; firstProgressAt: number; firstProgressCount: number; doneAt: number }> {
  const every = opts.everyMs ?? 250;
  const deadline = performance.now() + opts.timeoutMs;
  let startCount: number | undefined;
  let first: { at: number; count: number } | undefined;
  let lastReport = performance.now();
  for (;;) {
    opts.check?.();
    // A failed probe (the broker moving a new topic's leadership, say) counts as "not yet"; the deadline holds.
    const probed = await opts.probe().catch((err: unknown) => {
      if (performance.now() > deadline) throw err;
      return undefined;
    });
    const at = performance.now();
    if (!probed) {
      await new Promise((r) => setTimeout(r, every));
      continue;
    }
    const { count, done } = probed;
    startCount ??= count;
    if (!first && count > startCount) first = { at, count };
    if (done)
      return {
        startCount,
        firstProgressAt: first?.at ?? at,
        firstProgressCount: first?.count ?? count,
        doneAt: at,
      };
    if (at > deadline) throw new Error(`not drained within ${opts.timeoutMs / 1000} s (at ${count})`);
    if (opts.progress && at - lastReport > 5000) {
      opts.progress(count);
      lastReport = at;
    }
    await new Promise((r) => setTimeout(r, every));
  }
}
