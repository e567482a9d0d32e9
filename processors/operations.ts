import { type Pool, withTransaction } from "../infra/db/pool.js";
import type { BusAdmin, EventBus } from "../infra/kafka/index.js";
import type { TopicNames } from "../infra/topics.js";
import type { EventType } from "../schemas/index.js";
import type { Processor } from "./types.js";

export interface LagRow {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly committed: string;
  readonly end: string;
  readonly lag: number;
  /** Broker time of the oldest record the group has not processed, if any. */
  readonly oldestUnprocessedAt: string | null;
}

export interface ReplayStep {
  readonly topic: string;
  readonly partition: number;
  readonly from: string;
  readonly to: string;
  /** Records the group will (re)read from `to` to the end. */
  readonly records: number;
}

export type ReplayTarget =
  | { earliest: true }
  | { timestamp: number }
  | { offsets: ReadonlyMap<number, string> };

/** Consumer-group operations for the ops CLI: lag, replay, projection rebuild. */
export class GroupOperations {
  constructor(private readonly deps: { bus: EventBus; pool: Pool; names: TopicNames }) {}

  /** Every topic the processor's group reads: its main topics and its retry topics. */
  topicsOf(p: Processor<EventType>): { main: string[]; retry: string[] } {
    const group = this.deps.names.group(p.group);
    const main = [...new Set(p.events.map((t) => this.deps.names.event(t)))];
    const retry = main.flatMap((t) =>
      Array.from({ length: p.retry.attempts - 1 }, (_, i) => this.deps.names.retry(t, group, i + 1)),
    );
    return { main, retry };
  }

  async lag(
    p: Processor<EventType>,
    opts: { includeRetry?: boolean; timestamps?: boolean } = {},
  ): Promise<LagRow[]> {
    const group = this.deps.names.group(p.group);
    const { main, retry } = this.topicsOf(p);
    const rows: LagRow[] = [];
    await this.withAdmin(async (admin) => {
      for (const topic of opts.includeRetry ? [...main, ...retry] : main) {
        const ends = await admin.topicOffsets(topic);
        const committed = new Map(
          (await admin.groupOffsets(group, topic)).map((o) => [o.partition, o.offset]),
        );
        const behind: { partition: number; offset: string }[] = [];
        const partial = ends.map((e) => {
          const c = committed.get(e.partition);
          const from = c === undefined || BigInt(c) < 0n ? e.low : c;
          const lag = Number(BigInt(e.high) - BigInt(from));
          if (lag > 0) behind.push({ partition: e.partition, offset: from });
          return { group, topic, partition: e.partition, committed: c ?? "-1", end: e.high, lag };
        });
        // Each lookup runs a throw-away consumer: skipped when the caller (the lag gauge) does not want times.
        const times =
          behind.length && opts.timestamps !== false
            ? await this.deps.bus.timestampsAt(topic, behind)
            : new Map<number, number>();
        for (const r of partial) {
          const t = times.get(r.partition);
          rows.push({ ...r, oldestUnprocessedAt: t === undefined ? null : new Date(t).toISOString() });
        }
      }
    });
    return rows;
  }

  /** What a replay would do; throws while the group has live members. */
  async planReplay(
    p: Processor<EventType>,
    topics: readonly string[],
    target: ReplayTarget,
  ): Promise<ReplayStep[]> {
    const group = this.deps.names.group(p.group);
    return this.withAdmin(async (admin) => {
      await this.requireIdle(admin, group);
      const steps: ReplayStep[] = [];
      for (const topic of topics) {
        const ends = await admin.topicOffsets(topic);
        const committed = new Map(
          (await admin.groupOffsets(group, topic)).map((o) => [o.partition, o.offset]),
        );
        const byTime =
          "timestamp" in target
            ? new Map(
                (await admin.offsetsAtTimestamp(topic, target.timestamp)).map((o) => [o.partition, o.offset]),
              )
            : undefined;
        for (const e of ends) {
          const to =
            "earliest" in target
              ? e.low
              : byTime
                ? (byTime.get(e.partition) ?? e.high)
                : ((target as { offsets: ReadonlyMap<number, string> }).offsets.get(e.partition) ??
                  committed.get(e.partition) ??
                  e.low);
          const bounded = BigInt(to) < BigInt(e.low) ? e.low : BigInt(to) > BigInt(e.high) ? e.high : to;
          steps.push({
            topic,
            partition: e.partition,
            from: committed.get(e.partition) ?? "-1",
            to: bounded,
            records: Number(BigInt(e.high) - BigInt(bounded)),
          });
        }
      }
      return steps;
    });
  }

  async replay(p: Processor<EventType>, steps: readonly ReplayStep[]): Promise<void> {
    const group = this.deps.names.group(p.group);
    await this.withAdmin(async (admin) => {
      await this.requireIdle(admin, group);
      await admin.setGroupOffsets(
        group,
        steps.map((s) => ({ topic: s.topic, partition: s.partition, offset: s.to })),
      );
    });
  }

  /**
   * Drops the processor's projection and its dedupe rows in one transaction, and rewinds its group to the
   * earliest offsets (its retry topics to their end: their records are in the main topics too).
   * The group's next start rebuilds the projection from the topics.
   */
  async rebuild(p: Processor<EventType>): Promise<ReplayStep[]> {
    if (!p.rebuild) throw new Error(`processor "${p.name}" is not a rebuildable projection`);
    const group = this.deps.names.group(p.group);
    const { main, retry } = this.topicsOf(p);
    const steps = await this.planReplay(p, main, { earliest: true });
    const skipRetries = await this.planReplay(p, retry, { timestamp: Date.now() + 3_600_000 });
    await withTransaction(this.deps.pool, async (tx) => {
      await p.rebuild?.reset(tx);
      await tx.query("DELETE FROM processed_events WHERE consumer_group = $1", [group]);
      await tx.query("DELETE FROM parked_records WHERE consumer_group = $1", [group]);
      await tx.query("DELETE FROM key_holds WHERE consumer_group = $1", [group]);
    });
    await this.replay(p, [...steps, ...skipRetries]);
    return steps;
  }

  private async requireIdle(admin: BusAdmin, group: string): Promise<void> {
    const { state, members } = await admin.describeGroup(group);
    if (members > 0) {
      throw new Error(`group ${group} has ${members} live member(s) (${state}): stop its processors first`);
    }
  }

  private async withAdmin<T>(fn: (admin: BusAdmin) => Promise<T>): Promise<T> {
    const admin = await this.deps.bus.admin();
    try {
      return await fn(admin);
    } finally {
      await admin.close();
    }
  }
}
