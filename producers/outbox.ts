import { Params } from "../infra/db/sql.js";
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
  const params = new Params();
  await tx.query(outboxInsert(events, params), params.values);
}

/** The INSERT of `events` into the outbox, for a statement composed with `params` (e.g. as one CTE of it). */
export function outboxInsert(events: readonly OutboxEvent[], params: Params): string {
  const rows = params.rows(events, (e) => [
    params.add(e.payload.eventId),
    params.add(e.type),
    params.add(e.key),
    params.add(JSON.stringify(e.payload), "jsonb"),
    params.add(JSON.stringify(e.headers ?? {}), "jsonb"),
  ]);
  return `INSERT INTO outbox (event_id, event_type, message_key, payload, headers) VALUES ${rows}`;
}
