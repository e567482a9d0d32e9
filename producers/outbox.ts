import type { EventPayload, EventType } from "../schemas/index.js";

/** What the outbox needs of a transaction: a query method (pg.PoolClient fits). */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

export interface OutboxEvent<T extends EventType = EventType> {
  readonly type: T;
  /** Kafka message key: the aggregate id (user id, wallet id), so one aggregate's events stay in order. */
  readonly key: string;
  readonly payload: EventPayload<T>;
  /** Carried as Kafka headers (correlation-id, causation-id, …). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * Appends events to the outbox inside the caller's transaction: they are published if and only if the
 * transaction commits. The caller must hold the aggregate's lock (or create it) so id order is commit order.
 */
export async function enqueue(tx: Queryable, events: readonly OutboxEvent[]): Promise<void> {
  if (events.length === 0) return;
  const values: unknown[] = [];
  const rows = events.map((e, i) => {
    values.push(e.payload.eventId, e.type, e.key, JSON.stringify(e.payload), JSON.stringify(e.headers ?? {}));
    const p = i * 5;
    return `($${p + 1}, $${p + 2}, $${p + 3}, $${p + 4}::jsonb, $${p + 5}::jsonb)`;
  });
  await tx.query(
    `INSERT INTO outbox (event_id, event_type, message_key, payload, headers) VALUES ${rows.join(", ")}`,
    values,
  );
}
