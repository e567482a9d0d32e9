import type { Pool } from "../infra/db/pool.js";
import type { EventBus, IncomingRecord } from "../infra/kafka/index.js";
import type { EventCodec } from "../infra/registry.js";
import type { TopicNames } from "../infra/topics.js";
import { H } from "./failure-headers.js";

export interface DeadLetter {
  readonly dlqTopic: string;
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly status: "pending" | "redriven" | "purged";
  readonly failure: {
    readonly originalTopic: string | undefined;
    readonly originalPartition: string | undefined;
    readonly originalOffset: string | undefined;
    readonly group: string | undefined;
    readonly attempt: string | undefined;
    readonly errorClass: string | undefined;
    readonly errorMessage: string | undefined;
    readonly firstFailureAt: string | undefined;
    readonly deadLetteredAt: string | undefined;
  };
  readonly headers: Readonly<Record<string, string>>;
  /** The decoded event, or why it does not decode (it may be the reason it is here). */
  readonly event: { type: string; payload: unknown } | { error: string };
  readonly record: IncomingRecord;
}

/**
 * Dead letters: list, inspect, redrive, purge. Kafka keeps the records; their status lives in
 * dead_letter_actions. Redrive republishes the original key, value and headers — to the group's first retry
 * topic (due now, full attempts again) or to the main topic; the runner's dedupe keeps effects exactly-once.
 */
export class DeadLetters {
  constructor(
    private readonly deps: {
      bus: EventBus;
      codec: EventCodec;
      names: TopicNames;
      pool: Pool;
      topicPrefix: string;
    },
  ) {}

  async topics(): Promise<string[]> {
    const admin = await this.deps.bus.admin();
    try {
      return (await admin.listTopics())
        .filter((t) => t.startsWith(this.deps.topicPrefix) && t.endsWith(".dlq"))
        .sort();
    } finally {
      await admin.close();
    }
  }

  async list(dlqTopic: string): Promise<DeadLetter[]> {
    const records = await this.deps.bus.readAll(dlqTopic);
    const { rows } = await this.deps.pool.query<{
      kafka_partition: number;
      kafka_offset: string;
      action: DeadLetter["status"];
    }>("SELECT kafka_partition, kafka_offset, action FROM dead_letter_actions WHERE dlq_topic = $1", [
      dlqTopic,
    ]);
    const actions = new Map(rows.map((r) => [`${r.kafka_partition}:${r.kafka_offset}`, r.action]));
    return Promise.all(
      records.map(async (r) => this.describe(r, actions.get(`${r.partition}:${r.offset}`) ?? "pending")),
    );
  }

  /** Republishes the selected dead letters (pending ones only) and marks them redriven. */
  async redrive(
    dlqTopic: string,
    select: (d: DeadLetter) => boolean,
    opts: { to: "retry" | "main"; dryRun: boolean },
  ): Promise<{ letter: DeadLetter; target: string }[]> {
    const chosen = (await this.list(dlqTopic)).filter((d) => d.status === "pending" && select(d));
    const plan = chosen.map((letter) => ({ letter, target: this.target(letter, opts.to) }));
    if (opts.dryRun || plan.length === 0) return plan;
    const publisher = await this.deps.bus.publisher();
    try {
      for (const { letter, target } of plan) {
        const own = Object.fromEntries(Object.entries(letter.headers).filter(([k]) => !k.startsWith("x-")));
        const headers =
          opts.to === "retry"
            ? { ...letter.headers, [H.attempt]: "0", [H.dueAt]: String(Date.now()) }
            : { ...own, "x-redriven-from": `${dlqTopic}:${letter.partition}:${letter.offset}` };
        await publisher.publish([
          { topic: target, key: letter.record.key, value: letter.record.value ?? Buffer.alloc(0), headers },
        ]);
        await this.mark(letter, "redriven", target);
      }
    } finally {
      await publisher.close();
    }
    return plan;
  }

  /** Deletes every record of the topic (moves the low watermark) and marks the pending ones purged. */
  async purge(dlqTopic: string, opts: { dryRun: boolean }): Promise<DeadLetter[]> {
    const letters = await this.list(dlqTopic);
    if (opts.dryRun || letters.length === 0) return letters;
    const admin = await this.deps.bus.admin();
    try {
      for (const p of await admin.topicOffsets(dlqTopic)) {
        if (BigInt(p.high) > BigInt(p.low)) await admin.deleteRecordsBefore(dlqTopic, p.partition, p.high);
      }
    } finally {
      await admin.close();
    }
    for (const l of letters.filter((x) => x.status === "pending")) await this.mark(l, "purged", null);
    return letters;
  }

  private target(letter: DeadLetter, to: "retry" | "main"): string {
    const { originalTopic, group } = letter.failure;
    if (!originalTopic || !group)
      throw new Error(`${letter.dlqTopic} ${letter.partition}:${letter.offset} has no origin headers`);
    return to === "main" ? originalTopic : this.deps.names.retry(originalTopic, group, 1);
  }

  private async mark(
    letter: DeadLetter,
    action: "redriven" | "purged",
    target: string | null,
  ): Promise<void> {
    await this.deps.pool.query(
      `INSERT INTO dead_letter_actions (dlq_topic, kafka_partition, kafka_offset, action, target) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (dlq_topic, kafka_partition, kafka_offset) DO UPDATE SET action = excluded.action, target = excluded.target, acted_at = now()`,
      [letter.dlqTopic, letter.partition, letter.offset, action, target],
    );
  }

  private async describe(r: IncomingRecord, status: DeadLetter["status"]): Promise<DeadLetter> {
    const h = r.headers;
    const originalTopic = h[H.originalTopic];
    let event: DeadLetter["event"];
    try {
      const decoded = await this.deps.codec.decode(
        originalTopic ? this.deps.names.typesOf(originalTopic) : [],
        r.value,
      );
      event = { type: decoded.type, payload: decoded.payload };
    } catch (err) {
      event = { error: (err as Error).message };
    }
    return {
      dlqTopic: r.topic,
      partition: r.partition,
      offset: r.offset,
      key: r.key?.toString("utf8") ?? null,
      status,
      failure: {
        originalTopic,
        originalPartition: h[H.originalPartition],
        originalOffset: h[H.originalOffset],
        group: h[H.group],
        attempt: h[H.attempt],
        errorClass: h[H.errorClass],
        errorMessage: h[H.errorMessage],
        firstFailureAt: h[H.firstFailureAt],
        deadLetteredAt: h[H.deadLetteredAt],
      },
      headers: h,
      event,
      record: r,
    };
  }
}
