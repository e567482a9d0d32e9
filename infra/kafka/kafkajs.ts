import { randomUUID } from "node:crypto";
import {
  type Admin,
  type Consumer,
  Kafka,
  type KafkaMessage,
  type LogEntry,
  logLevel,
  Partitioners,
  type Producer,
} from "kafkajs";
import type { Logger } from "../log.js";
import type {
  BusAdmin,
  DeliveryControls,
  EnsureTopicsResult,
  EventBus,
  IncomingRecord,
  Publisher,
  Subscription,
  SubscriptionOptions,
  TopicSpec,
} from "./types.js";

export interface KafkaBusOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  readonly log: Logger;
  /** Group session timeout; a crashed member's partitions move after it. Default 15 s. */
  readonly sessionTimeoutMs?: number;
}

/** kafkajs behind the EventBus interface. */
export function createKafkaBus(opts: KafkaBusOptions): EventBus {
  const log = opts.log.child({ component: "kafka" });
  const kafka = new Kafka({
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    connectionTimeout: 3000,
    requestTimeout: 30_000,
    // Reconnect for long: a broker restart must not kill the clients. The callers bound their own waits.
    retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 8 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      const level =
        entry.level <= logLevel.ERROR ? "error" : entry.level === logLevel.WARN ? "warn" : "debug";
      log[level]({ kafkajs: entry.namespace, ...extra }, message);
    },
  });

  return {
    async publisher() {
      const producer = kafka.producer({
        // Idempotent producer: acks=all, one in-flight request, so retries never duplicate or reorder.
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        createPartitioner: Partitioners.DefaultPartitioner,
      });
      await producer.connect();
      return kafkaPublisher(producer);
    },
    subscription(sub) {
      return kafkaSubscription(kafka, sub, log, opts.sessionTimeoutMs ?? 15_000);
    },
    async admin() {
      const admin = kafka.admin();
      await admin.connect();
      return kafkaAdmin(admin, kafka);
    },
    async readAll(topic, opts = {}) {
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
        return records.sort(
          (a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)),
        );
      } finally {
        await consumer.disconnect().catch(() => undefined);
        await admin.deleteGroups([groupId]).catch(() => undefined);
        await admin.disconnect();
      }
    },
    async timestampsAt(topic, at) {
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
    },
    async ping(timeoutMs = 3000) {
      const admin = kafka.admin({ retry: { retries: 0 } });
      const timeout = new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error("timeout")), timeoutMs),
      );
      try {
        await Promise.race([admin.connect().then(() => admin.describeCluster()), timeout]);
        return true;
      } catch {
        return false;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    },
  };
}

function kafkaPublisher(producer: Producer): Publisher {
  return {
    async publish(records) {
      if (records.length === 0) return;
      const byTopic = new Map<
        string,
        { key: string | Buffer | null; value: Buffer; headers?: Record<string, string> }[]
      >();
      for (const r of records) {
        const list = byTopic.get(r.topic) ?? [];
        list.push({ key: r.key, value: r.value, ...(r.headers ? { headers: { ...r.headers } } : {}) });
        byTopic.set(r.topic, list);
      }
      await producer.sendBatch({
        acks: -1,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
    },
    close: () => producer.disconnect(),
  };
}

function kafkaSubscription(
  kafka: Kafka,
  sub: SubscriptionOptions,
  log: Logger,
  sessionTimeoutMs: number,
): Subscription {
  const consumer: Consumer = kafka.consumer({
    groupId: sub.groupId,
    sessionTimeout: sessionTimeoutMs,
    rebalanceTimeout: 60_000,
    heartbeatInterval: 3000,
    allowAutoTopicCreation: false,
    maxWaitTimeInMs: 500,
    // Restart after a crash unless stop() was called: a transient broker outage must not end the service.
    retry: { retries: 10, restartOnFailure: async () => !state.stopping },
  });
  const state = { stopping: false };
  let reportCrash: (err: Error) => void = () => undefined;
  const crashed = new Promise<Error>((resolve) => {
    reportCrash = resolve;
  });
  consumer.on(consumer.events.CRASH, (event) => {
    const { error, restart } = event.payload;
    log.error({ err: error, groupId: sub.groupId, restart }, "consumer crashed");
    if (!restart && !state.stopping) reportCrash(error);
  });

  return {
    crashed,
    async run(handler) {
      await consumer.connect();
      await consumer.subscribe({ topics: [...sub.topics], fromBeginning: sub.fromBeginning ?? true });
      // eachBatch with manual resolution: a record's offset is resolved (and later committed) only once its
      // handler is done; a held record leaves its partition paused at that record until it is due.
      await consumer.run({
        autoCommit: true,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: sub.concurrency ?? 1,
        eachBatch: async ({
          batch,
          resolveOffset,
          heartbeat,
          commitOffsetsIfNecessary,
          isRunning,
          isStale,
          pause,
        }) => {
          const controls: DeliveryControls = {
            heartbeat,
            get stopping() {
              return state.stopping || !isRunning();
            },
          };
          for (const message of batch.messages) {
            if (!isRunning() || isStale()) break;
            const disposition = await handler(toIncoming(batch.topic, batch.partition, message), controls);
            if (disposition && disposition.holdUntil > Date.now()) {
              const resume = pause();
              const timer = setTimeout(resume, disposition.holdUntil - Date.now());
              timer.unref();
              break;
            }
            resolveOffset(message.offset);
            await heartbeat();
          }
          await commitOffsetsIfNecessary();
        },
      });
    },
    async stop() {
      state.stopping = true;
      // disconnect() stops fetching, waits for the in-flight handlers, commits resolved offsets, leaves the group.
      await consumer.disconnect();
    },
  };
}

function toIncoming(topic: string, partition: number, m: KafkaMessage): IncomingRecord {
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

/** Polls metadata until every partition of `topics` has a leader (30 s at most). */
async function waitForLeaders(admin: Admin, topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [...topics] });
      const ready =
        meta.topics.length === topics.length &&
        meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
      if (ready) return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    if (Date.now() > deadline) throw new Error(`topics without a leader after 30 s: ${topics.join(", ")}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Commits offsets for a group by joining it once as a paused member (kafkajs' admin.setOffsets joins once per
 * topic and does not leave, so each call waits out the previous member's session). Leaves cleanly.
 */
async function commitAsMember(
  kafka: Kafka,
  groupId: string,
  offsets: readonly { topic: string; partition: number; offset: string }[],
): Promise<void> {
  const topics = [...new Set(offsets.map((o) => o.topic))];
  const consumer = kafka.consumer({ groupId, allowAutoTopicCreation: false, sessionTimeout: 10_000 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    // As kafkajs' admin.setOffsets does, for every topic at once: seek while paused; with autoCommit the
    // sought offsets are committed, and the first fetch event says the seeks went through.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`could not join ${groupId} to move its offsets`)),
        60_000,
      );
      consumer.on(consumer.events.FETCH, () => {
        clearTimeout(timer);
        resolve();
      });
      consumer
        .run({ autoCommit: true, eachBatchAutoResolve: false, eachBatch: async () => undefined })
        .catch(reject);
      consumer.pause(topics.map((topic) => ({ topic })));
      for (const o of offsets) consumer.seek({ topic: o.topic, partition: o.partition, offset: o.offset });
    });
  } finally {
    await consumer.disconnect();
  }
}

function kafkaAdmin(admin: Admin, kafka: Kafka): BusAdmin {
  return {
    async ensureTopics(specs: readonly TopicSpec[]): Promise<EnsureTopicsResult> {
      const existing = new Set(await admin.listTopics());
      const missing = specs.filter((s) => !existing.has(s.name));
      if (missing.length > 0) {
        await admin.createTopics({
          // Waited for below: kafkajs' own wait gives up on "does not host this topic-partition", which a
          // busy broker answers for a while after creating many topics at once.
          waitForLeaders: false,
          topics: missing.map((s) => ({
            topic: s.name,
            numPartitions: s.partitions,
            replicationFactor: s.replicationFactor,
            configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
          })),
        });
      }
      await waitForLeaders(
        admin,
        missing.map((s) => s.name),
      );
      const present = specs.filter((s) => existing.has(s.name));
      const underPartitioned: { name: string; has: number; declared: number }[] = [];
      const reconfigured: string[] = [];
      if (present.length > 0) {
        const meta = await admin.fetchTopicMetadata({ topics: present.map((s) => s.name) });
        for (const t of meta.topics) {
          const spec = present.find((s) => s.name === t.name);
          if (spec && t.partitions.length < spec.partitions) {
            underPartitioned.push({ name: t.name, has: t.partitions.length, declared: spec.partitions });
          }
        }
        const described = await admin.describeConfigs({
          includeSynonyms: false,
          resources: present.map((s) => ({ type: 2 /* TOPIC */, name: s.name })),
        });
        for (const res of described.resources) {
          const spec = present.find((s) => s.name === res.resourceName);
          if (!spec) continue;
          const current = new Map(res.configEntries.map((e) => [e.configName, e.configValue]));
          const drift = Object.entries(spec.config).filter(([k, v]) => current.get(k) !== v);
          if (drift.length === 0) continue;
          // alterConfigs replaces the topic's dynamic config as a whole: send the full declared set.
          await admin.alterConfigs({
            validateOnly: false,
            resources: [
              {
                type: 2,
                name: spec.name,
                configEntries: Object.entries(spec.config).map(([name, value]) => ({ name, value })),
              },
            ],
          });
          reconfigured.push(spec.name);
        }
      }
      return { created: missing.map((s) => s.name), reconfigured, underPartitioned };
    },
    listTopics: () => admin.listTopics(),
    async deleteTopics(names) {
      if (names.length > 0) await admin.deleteTopics({ topics: [...names] });
    },
    async topicOffsets(topic) {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high }));
    },
    async groupOffsets(groupId, topic) {
      const res = await admin.fetchOffsets({ groupId, topics: [topic] });
      return (res[0]?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset }));
    },
    async deleteGroups(groupIds) {
      if (groupIds.length > 0) await admin.deleteGroups([...groupIds]);
    },
    async describeGroup(groupId) {
      const { groups } = await admin.describeGroups([groupId]);
      const g = groups[0];
      return { state: g?.state ?? "Dead", members: g?.members.length ?? 0 };
    },
    async setGroupOffsets(groupId, offsets) {
      if (offsets.length === 0) return;
      await commitAsMember(kafka, groupId, offsets);
    },
    async offsetsAtTimestamp(topic, timestamp) {
      const res = await admin.fetchTopicOffsetsByTimestamp(topic, timestamp);
      return res.map((o) => ({ partition: o.partition, offset: o.offset }));
    },
    async deleteRecordsBefore(topic, partition, offset) {
      await admin.deleteTopicRecords({ topic, partitions: [{ partition, offset }] });
    },
    close: () => admin.disconnect(),
  };
}
