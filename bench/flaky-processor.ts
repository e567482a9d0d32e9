// `node --import tsx bench/flaky-processor.ts`: the processor of bench/retry.ts (bench/lib/flaky-processor.ts)
// on the real ProcessorRunner, with FAIL_PERCENT % of first attempts failing transiently and a fixed retry
// backoff of RETRY_BACKOFF_MS. Its retry and dead-letter topics are created here (it is not in the catalogue
// that bootstrap provisions). Stops cleanly on SIGTERM.
import { loadConfig } from "../infra/config.js";
import { createPool } from "../infra/db/pool.js";
import { createKafkaBus } from "../infra/kafka/index.js";
import { createLogger } from "../infra/log.js";
import { EventCodec } from "../infra/registry.js";
import { declaredTopics, topicNames } from "../infra/topics.js";
import { ProcessorRunner } from "../processors/runner.js";
import { flakyProcessor } from "./lib/flaky-processor.js";
import { exitOnSignals } from "./lib/lifecycle.js";

const config = loadConfig();
const log = createLogger({ level: config.logLevel, service: "bench-flaky" });
const processor = flakyProcessor({
  failPercent: Number(process.env.FAIL_PERCENT ?? 0),
  backoffMs: Number(process.env.RETRY_BACKOFF_MS ?? 100),
});
const pool = createPool(config);
const bus = createKafkaBus({
  brokers: config.kafka.brokers,
  clientId: "walletstream-bench-flaky",
  sessionTimeoutMs: config.kafka.sessionTimeoutMs,
  log,
});
const names = topicNames(config);
const admin = await bus.admin();
await admin.ensureTopics(declaredTopics(config, [processor]));
await admin.close();
const runner = new ProcessorRunner(processor, {
  bus,
  codec: new EventCodec(config.registry.url, names),
  pool,
  names,
  log,
});
exitOnSignals(() => runner.stop().then(() => pool.end()), runner.crashed, log);
await runner.start();
log.warn({ failPercent: Number(process.env.FAIL_PERCENT ?? 0) }, "flaky processor started");
