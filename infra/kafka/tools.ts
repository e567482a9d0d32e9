import { randomUUID } from "node:crypto";
import type { Kafka, KafkaMessage } from "kafkajs";
import type { IncomingRecord } from "./types.js";

/**
 * Reads a topic from its low to its high watermark as they are now, with a throw-away group that is deleted
 * afterwards: for tools (dead letters, checks), not for processing.
 */
export async function readAll(
  kafka: Kafka,
  topic: string,
  opts: { timeoutMs?: number } = {},
): Promise<IncomingRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `walletstream-reader-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
  try {
    const ends = (await admin.fetchTopicOffsets(topic)).filter((o) => BigInt(o.high) > BigInt(o.low));
    if (ends.length === 0) return [];
    const remaining = new Map(ends.map((o) => [o.partition, BigInt(o.high)]));
    const records: IncomingRecord[] = [];
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`reading ${topic} timed out`)),
        opts.timeoutMs ?? 30_000,
      );
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const end = remaining.get(partition);
          if (end === undefined || BigInt(message.offset) >= end) return;
          records.push(toIncoming(topic, partition, message));
          if (BigInt(message.offset) + 1n >= end) remaining.delete(partition);
          if (remaining.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
    return records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

/** The broker timestamps of the records at the given offsets (missing when the offset holds no record). */
export async function timestampsAt(
  kafka: Kafka,
  topic: string,
  at: readonly { partition: number; offset: string }[],
): Promise<Map<number, number>> {
  const wanted = at.filter((a) => BigInt(a.offset) >= 0n);
  const found = new Map<number, number>();
  if (wanted.length === 0) return found;
  const groupId = `walletstream-peek-${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const pending = new Set(wanted.map((w) => w.partition));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          const w = wanted.find((x) => x.partition === partition);
          if (!w || !pending.has(partition) || BigInt(message.offset) < BigInt(w.offset)) return;
          found.set(partition, Number(message.timestamp));
          pending.delete(partition);
          if (pending.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
      for (const w of wanted) consumer.seek({ topic, partition: w.partition, offset: w.offset });
    });
    return found;
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}

export function toIncoming(topic: string, partition: number, m: KafkaMessage): IncomingRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    if (v === undefined) continue;
    headers[k] = (Array.isArray(v) ? v[v.length - 1] : v)?.toString() ?? "";
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key ?? null,
    value: m.value ?? null,
    headers,
    timestamp: Number(m.timestamp),
  };
}
