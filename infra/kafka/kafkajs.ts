import { type Consumer, Kafka, type LogEntry, logLevel, Partitioners, type Producer } from "kafkajs";
import type { Logger } from "../log.js";
import { kafkaAdmin } from "./admin.js";
import { readAll, timestampsAt, toIncoming } from "./tools.js";
import type { DeliveryControls, EventBus, Publisher, Subscription, SubscriptionOptions } from "./types.js";

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
    readAll: (topic, opts = {}) => readAll(kafka, topic, opts),
    timestampsAt: (topic, at) => timestampsAt(kafka, topic, at),
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
