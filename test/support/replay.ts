import type pg from "pg";
import type { System } from "../../bin/system.js";
import type { Publisher } from "../../infra/kafka/index.js";
import { EVENT_TYPES, type EventType } from "../../schemas/index.js";
import { eventually } from "./harness.js";

/**
 * Publishes an event that already went out once (its outbox row), encoded the same way, to its topic with its
 * key: what a broker redelivery or a replay looks like to a consumer.
 */
export async function redeliver(
  system: System,
  publisher: Publisher,
  row: { event_type: string; message_key: string; payload: Record<string, unknown> },
): Promise<void> {
  const type = EVENT_TYPES.find((t) => t === row.event_type) as EventType;
  const value = await system.codec.encode(type, row.payload as never);
  await publisher.publish([{ topic: system.names.event(type), key: row.message_key, value }]);
}

/**
 * A replay that no longer finds the runner's dedupe row (purged, or a reset group): deletes the group's row for
 * the event, redelivers it, and waits until the group has processed it again. What the service's own unique
 * keys do then is the test's to check.
 */
export async function redeliverWithoutDedupe(
  system: System,
  db: pg.Pool,
  publisher: Publisher,
  group: string,
  row: { event_id: string; event_type: string; message_key: string; payload: Record<string, unknown> },
): Promise<void> {
  const dedupe = () =>
    db.query("SELECT 1 FROM processed_events WHERE consumer_group = $1 AND event_id = $2", [
      group,
      row.event_id,
    ]);
  await db.query("DELETE FROM processed_events WHERE consumer_group = $1 AND event_id = $2", [
    group,
    row.event_id,
  ]);
  await redeliver(system, publisher, row);
  await eventually(async () => (await dedupe()).rowCount === 1);
}
