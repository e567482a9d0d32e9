import { type Consumer, Kafka, type LogEntry, logLevel, Partitioners, type Producer } from "kafkajs";
import type { Logger } from "../log.js";
import { kafkaAdmin } from "./admin.js";
import { readAll, timestampsAt, toIncoming } from "./tools.js";
import type {
  BatchControls,
  Disposition,
  EventBus,
  Publisher,
  RecordBatch,
  Subscription,
  SubscriptionOptions,
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

  const consume = async (
    chunkMax: number,
    handler: (batch: RecordBatch, controls: BatchControls) => Promise<Disposition>,
  ): Promise<void> => {
    await consumer.connect();
    await consumer.subscribe({ topics: [...sub.topics], fromBeginning: sub.fromBeginning ?? true });
    // eachBatch with manual resolution: an offset is resolved (and later committed) only when the handler says
    // its record is done; a held record leaves its partition paused at that record until it is due.
    await consumer.run({
      autoCommit: true,
      // Resolved offsets are committed at the end of each fetched batch, and within a long one every second.
      autoCommitInterval: 1000,
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
        for (let from = 0; from < batch.messages.length; from += chunkMax) {
          if (!isRunning() || isStale()) break;
          const messages = batch.messages.slice(from, from + chunkMax);
          let resolved: string | undefined;
          const controls: BatchControls = {
            heartbeat,
            get stopping() {
              return state.stopping || !isRunning();
            },
            resolve(offset) {
              resolveOffset(offset);
              resolved = offset;
            },
          };
          const records = messages.map((m) => toIncoming(batch.topic, batch.partition, m));
          const disposition = await handler(
            { topic: batch.topic, partition: batch.partition, records },
            controls,
          );
          if (disposition) {
            const resume = pause();
            setTimeout(resume, Math.max(0, disposition.holdUntil - Date.now())).unref();
            break;
          }
          if (resolved !== messages[messages.length - 1]?.offset) break;
          await heartbeat();
          await commitOffsetsIfNecessary();
        }
      },
    });
  };

  return {
    crashed,
    // One record per call: resolved (and heartbeat sent) after each one, as the contract says.
    run: (handler) =>
      consume(1, async ({ records }, controls) => {
        for (const record of records) {
          const disposition = await handler(record, controls);
          if (disposition) return disposition;
          controls.resolve(record.offset);
        }
      }),
    runBatches: (handler) => consume(sub.batchMax ?? 100, handler),
    async stop() {
      state.stopping = true;
      // disconnect() stops fetching, waits for the in-flight handlers, commits resolved offsets, leaves the group.
      await consumer.disconnect();
    },
  };
}
