import type { System } from "../../bin/system.js";
import type { Publisher } from "../../infra/kafka/index.js";
import { EVENT_TYPES, type EventType } from "../../schemas/index.js";

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
