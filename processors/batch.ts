import type { Tx } from "../infra/db/pool.js";
import { isUnavailable } from "../infra/errors.js";
import type { IncomingRecord } from "../infra/kafka/index.js";
import { enqueue, type OutboxEvent } from "../producers/outbox.js";
import type { EventType } from "../schemas/index.js";
import { uuidKey } from "./fate.js";
import type { ConsumedEvent } from "./types.js";

/** Skipped (a type this processor does not handle), or failed: `fatal` ones are dead-lettered whatever the policy says. */
type Settled =
  | { readonly kind: "skipped"; readonly record: IncomingRecord }
  | {
      readonly kind: "failed";
      readonly record: IncomingRecord;
      readonly err: unknown;
      readonly fatal: boolean;
    };

/** A record of a chunk, sorted out before the transaction: decoded, or why not (refused, undecodable). */
export type ChunkItem<T extends EventType> =
  | { readonly kind: "event"; readonly record: IncomingRecord; readonly event: ConsumedEvent<T> }
  | Settled;

/** What became of a chunk item; a handler error makes it `failed` (not fatal: the policy decides). */
export type ItemResult =
  | { readonly kind: "applied"; readonly record: IncomingRecord; readonly seconds: number }
  | { readonly kind: "duplicate"; readonly record: IncomingRecord }
  | Settled;

export interface ChunkResult {
  /** What became of the items, in order; fewer than the items when `unavailable` stopped the chunk there. */
  readonly results: readonly ItemResult[];
  /** A handler met a dependency outage: the items from `results.length` on were not attempted. */
  readonly unavailable?: unknown;
}

/** Runs the handler of one event in `tx`; its outgoing events go to `emit` (written with the chunk's). */
export type RunHandler<T extends EventType> = (
  event: ConsumedEvent<T>,
  record: IncomingRecord,
  tx: Tx,
  emit: (events: readonly OutboxEvent[]) => void,
) => Promise<void>;

/** Runs the handler of several events at once, in order, in `tx`; each event's outgoing events go to its `emit`. */
export type RunAll<T extends EventType> = (
  events: readonly {
    readonly event: ConsumedEvent<T>;
    readonly record: IncomingRecord;
    readonly emit: (events: readonly OutboxEvent[]) => void;
  }[],
  tx: Tx,
) => Promise<void>;

const SAVEPOINT = "SAVEPOINT ws_record";
const NEXT_SAVEPOINT = "RELEASE SAVEPOINT ws_record; SAVEPOINT ws_record";
const ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT ws_record";
/** Serialization failure and deadlock: the whole transaction must be run again (withTransaction does). */
const RERUN_SQLSTATES = new Set(["40001", "40P01"]);

/**
 * Applies a chunk of one partition's records in the caller's transaction `tx`:
 *
 * 1. one statement inserts the dedupe rows of every decoded event (`unnest`, ON CONFLICT DO NOTHING RETURNING):
 *    the event ids it returns are fresh, the others were applied before (or earlier in this chunk);
 * 2. each fresh event's handler runs behind a savepoint. A handler error rolls back to it and deletes the
 *    event's dedupe row, so the chunk goes on without a trace of it and the caller retries or dead-letters it;
 * 3. the outgoing events of all handlers that succeeded are written to the outbox in one statement, in order.
 *
 * The caller commits; nothing here talks to Kafka. A lost connection or a statement that breaks the
 * transaction itself rejects (the caller redoes the chunk); a serialization failure or deadlock rejects too,
 * so that the whole transaction is run again.
 */
export async function applyChunk<T extends EventType>(
  tx: Tx,
  where: { readonly group: string; readonly topic: string; readonly partition: number },
  items: readonly ChunkItem<T>[],
  run: RunHandler<T>,
  runAll?: RunAll<T>,
): Promise<ChunkResult> {
  const events = items.flatMap((i) => (i.kind === "event" ? [i] : []));
  const claimed = new Set<string>();
  if (events.length > 0) {
    const { rows } = await tx.query<{ event_id: string }>(
      `INSERT INTO processed_events (consumer_group, event_id, topic, kafka_partition, kafka_offset)
       SELECT $1, t.event_id, $2, $3, t.kafka_offset FROM unnest($4::uuid[], $5::bigint[]) AS t(event_id, kafka_offset)
       ON CONFLICT DO NOTHING RETURNING event_id`,
      [
        where.group,
        where.topic,
        where.partition,
        events.map((e) => e.event.payload.eventId),
        events.map((e) => e.record.offset),
      ],
    );
    for (const r of rows) claimed.add(uuidKey(r.event_id) as string);
  }
  if (runAll) {
    const all = await applyAll(tx, items, claimed, runAll);
    if (all) return all;
  }
  // Ids whose dedupe row a failed handler gave back: a later copy in this chunk must claim it anew.
  const released = new Set<string>();
  const outbox: OutboxEvent[] = [];
  const results: ItemResult[] = [];
  let savepoint = false;
  for (const item of items) {
    if (item.kind !== "event") {
      results.push(item);
      continue;
    }
    const { record, event } = item;
    const key = uuidKey(event.payload.eventId) as string;
    let fresh = claimed.delete(key);
    if (!fresh && released.delete(key))
      fresh = await claim(tx, { ...where, eventId: event.payload.eventId, offset: record.offset });
    if (!fresh) {
      results.push({ kind: "duplicate", record });
      continue;
    }
    await tx.query({ text: savepoint ? NEXT_SAVEPOINT : SAVEPOINT });
    savepoint = true;
    const emitted: OutboxEvent[] = [];
    const started = performance.now();
    try {
      await run(event, record, tx, (e) => emitted.push(...e));
      outbox.push(...emitted);
      results.push({ kind: "applied", record, seconds: (performance.now() - started) / 1000 });
    } catch (err) {
      if (RERUN_SQLSTATES.has((err as { code?: string }).code ?? "")) throw err;
      await tx.query({ text: ROLLBACK_TO_SAVEPOINT });
      await tx.query("DELETE FROM processed_events WHERE consumer_group = $1 AND event_id = $2", [
        where.group,
        event.payload.eventId,
      ]);
      released.add(key);
      if (isUnavailable(err)) {
        await enqueue(tx, outbox);
        return { results, unavailable: err };
      }
      results.push({ kind: "failed", record, err, fatal: false });
    }
  }
  await enqueue(tx, outbox);
  return { results };
}

/**
 * The set-based path: every fresh event's handler at once, behind one savepoint. Undefined when it failed (rolled
 * back): the caller then applies the events one by one, which isolates the failing one.
 */
async function applyAll<T extends EventType>(
  tx: Tx,
  items: readonly ChunkItem<T>[],
  claimed: ReadonlySet<string>,
  runAll: RunAll<T>,
): Promise<ChunkResult | undefined> {
  const first = new Set<string>();
  const fresh = items.flatMap((item) => {
    if (item.kind !== "event") return [];
    const key = uuidKey(item.event.payload.eventId) as string;
    if (!claimed.has(key) || first.has(key)) return [];
    first.add(key);
    return [{ item, emitted: [] as OutboxEvent[] }];
  });
  if (fresh.length < 2) return undefined;
  await tx.query({ text: SAVEPOINT });
  const started = performance.now();
  try {
    await runAll(
      fresh.map(({ item, emitted }) => ({
        event: item.event,
        record: item.record,
        emit: (e) => emitted.push(...e),
      })),
      tx,
    );
  } catch (err) {
    if (RERUN_SQLSTATES.has((err as { code?: string }).code ?? "")) throw err;
    await tx.query({ text: ROLLBACK_TO_SAVEPOINT });
    return undefined;
  }
  const seconds = (performance.now() - started) / 1000 / fresh.length;
  const applied = new Set(fresh.map((f) => f.item));
  await enqueue(
    tx,
    fresh.flatMap((f) => f.emitted),
  );
  return {
    results: items.map((item): ItemResult => {
      if (item.kind !== "event") return item;
      return applied.has(item)
        ? { kind: "applied", record: item.record, seconds }
        : { kind: "duplicate", record: item.record };
    }),
  };
}

/** The dedupe row of one event, at its original coordinates; false when the group applied it before. */
export async function claim(
  tx: Tx,
  row: {
    readonly group: string;
    readonly eventId: string;
    readonly topic: string;
    readonly partition: number;
    readonly offset: string;
  },
): Promise<boolean> {
  const res = await tx.query(
    `INSERT INTO processed_events (consumer_group, event_id, topic, kafka_partition, kafka_offset)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    [row.group, row.eventId, row.topic, row.partition, row.offset],
  );
  return res.rowCount === 1;
}
