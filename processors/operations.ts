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

/**
 * Consumer-group operations for the ops CLI: lag, replay, projection rebuild. A processor has two groups: its
 * own for its main topics and `<group>.retry` for its retry topics (the runner reads them with a consumer of
 * their own); each topic's offsets are read and moved under the group that commits them.
 */
export class GroupOperations {
  constructor(private readonly deps: { bus: EventBus; pool: Pool; names: TopicNames }) {}

  /** Every topic the processor reads: its main topics and its retry topics. */
  topicsOf(p: Processor<EventType>): { main: string[]; retry: string[] } {
    const group = this.deps.names.group(p.group);
    const main = [...new Set(p.events.map((t) => this.deps.names.event(t)))];
    const retry = main.flatMap((t) =>
      Array.from({ length: p.retry.attempts - 1 }, (_, i) => this.deps.names.retry(t, group, i + 1)),
    );
    return { main, retry };
  }

  /** The processor's consumer groups: `main` commits its main topics' offsets, `retry` its retry topics'. */
  groupsOf(p: Processor<EventType>): { main: string; retry: string } {
    const main = this.deps.names.group(p.group);
    return { main, retry: this.deps.names.retryGroup(main) };
  }

  /** The group whose committed offsets of `topic` count: the retry group for the processor's retry topics. */
  groupFor(p: Processor<EventType>, topic: string): string {
    const groups = this.groupsOf(p);
    return this.topicsOf(p).retry.includes(topic) ? groups.retry : groups.main;
  }

  async lag(
    p: Processor<EventType>,
    opts: { includeRetry?: boolean; timestamps?: boolean } = {},
  ): Promise<LagRow[]> {
    const { main, retry } = this.topicsOf(p);
    const rows: LagRow[] = [];
    await this.withAdmin(async (admin) => {
      for (const topic of opts.includeRetry ? [...main, ...retry] : main) {
        const group = this.groupFor(p, topic);
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

  /** What a replay would do; throws while either of the processor's groups has live members. */
  async planReplay(
    p: Processor<EventType>,
    topics: readonly string[],
    target: ReplayTarget,
  ): Promise<ReplayStep[]> {
    return this.withAdmin(async (admin) => {
      await this.requireIdle(admin, p);
      const steps: ReplayStep[] = [];
      for (const topic of topics) {
        const group = this.groupFor(p, topic);
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

  /** Moves the offsets of the plan's steps, each under the group of its topic (one commit per group). */
  async replay(p: Processor<EventType>, steps: readonly ReplayStep[]): Promise<void> {
    const byGroup = new Map<string, { topic: string; partition: number; offset: string }[]>();
    for (const s of steps) {
      const group = this.groupFor(p, s.topic);
      byGroup.set(group, [
        ...(byGroup.get(group) ?? []),
        { topic: s.topic, partition: s.partition, offset: s.to },
      ]);
    }
    await this.withAdmin(async (admin) => {
      await this.requireIdle(admin, p);
      for (const [group, offsets] of byGroup) await admin.setGroupOffsets(group, offsets);
    });
  }

  /**
   * Drops the processor's projection and its dedupe rows in one transaction, and rewinds its group to the
   * earliest offsets (its retry group to the end of the retry topics: their records are in the main topics too).
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

  /** Both groups must be empty: a replay moves offsets a live member would overwrite. */
  private async requireIdle(admin: BusAdmin, p: Processor<EventType>): Promise<void> {
    const { main, retry } = this.groupsOf(p);
    for (const group of [main, retry]) {
      const { state, members } = await admin.describeGroup(group);
      if (members > 0) {
        throw new Error(`group ${group} has ${members} live member(s) (${state}): stop its processors first`);
      }
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
