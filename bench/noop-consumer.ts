// `node --import tsx bench/noop-consumer.ts <group>`: the client-side limit of bench/pipeline.ts. The same
// consumer stack as a processor (infra/kafka subscription, three partitions in parallel as the runner asks,
// Avro decode through the registry) with a handler that does nothing, on the user_registered topic of the
// environment's TOPIC_PREFIX. Stops cleanly on SIGTERM (commits what it handled) and logs the time of its
// first and last record.
import { loadConfig } from "../infra/config.js";
import { createKafkaBus } from "../infra/kafka/index.js";
import { createLogger } from "../infra/log.js";
import { EventCodec } from "../infra/registry.js";
import { topicNames } from "../infra/topics.js";
import { exitOnSignals } from "./lib/lifecycle.js";

const group = process.argv[2];
if (!group) {
  console.error("usage: bench/noop-consumer.ts <group>");
  process.exit(2);
}
const config = loadConfig();
const log = createLogger({ level: config.logLevel, service: "bench-noop" });
const names = topicNames(config);
const codec = new EventCodec(config.registry.url, names);
const topic = names.event("user_registered");
const types = names.typesOf(topic);
const subscription = createKafkaBus({
  brokers: config.kafka.brokers,
  clientId: "walletstream-bench-noop",
  sessionTimeoutMs: config.kafka.sessionTimeoutMs,
  log,
}).subscription({ groupId: group, topics: [topic], fromBeginning: true, concurrency: 3 });

// Epoch ms of the first and last record handled: the bench computes the drain rate over this window.
let decoded = 0;
let firstAt = 0;
let lastAt = 0;
exitOnSignals(
  async () => {
    await subscription.stop();
    log.warn({ decoded, firstAt, lastAt }, "no-op consumer stopped");
  },
  subscription.crashed,
  log,
);
await subscription.run(async (record) => {
  await codec.decode(types, record.value);
  lastAt = Date.now();
  if (decoded++ === 0) firstAt = lastAt;
});
