// `node --import tsx bench/bench-processor.ts <flaky|noop>`: a benchmark's own processor on the real
// ProcessorRunner, with the runner settings of the environment (RUNNER_BATCH_MAX, …) as bin/processor.ts has them.
// - flaky (bench/retry.ts, bench/lib/flaky-processor.ts): FAIL_PERCENT % of first attempts fail transiently, a
//   fixed retry backoff of RETRY_BACKOFF_MS;
// - noop (bench/pipeline.ts, bench/lib/noop-processor.ts): a handler that does nothing, so the runner's own cost.
// Its retry and dead-letter topics are created here (it is not in the catalogue that bootstrap provisions).
// Stops cleanly on SIGTERM.
import { loadConfig } from "../infra/config.js";
import { createPool } from "../infra/db/pool.js";
import { createKafkaBus } from "../infra/kafka/index.js";
import { createLogger } from "../infra/log.js";
import { EventCodec } from "../infra/registry.js";
import { declaredTopics, topicNames } from "../infra/topics.js";
import { defaultRetryPolicy } from "../processors/index.js";
import { ProcessorRunner } from "../processors/runner.js";
import type { Processor } from "../processors/types.js";
import { flakyProcessor } from "./lib/flaky-processor.js";
import { exitOnSignals } from "./lib/lifecycle.js";
import { noopProcessor } from "./lib/noop-processor.js";

const config = loadConfig();
const kind = process.argv[2];
const processors: Record<string, () => Processor<"user_registered">> = {
  flaky: () =>
    flakyProcessor({
      failPercent: Number(process.env.FAIL_PERCENT ?? 0),
      backoffMs: Number(process.env.RETRY_BACKOFF_MS ?? 100),
    }),
  noop: () => noopProcessor(defaultRetryPolicy(config)),
};
const make = kind ? processors[kind] : undefined;
if (!make) {
  console.error(`usage: bench/bench-processor.ts <${Object.keys(processors).join("|")}>`);
  process.exit(2);
}
const processor = make();
const log = createLogger({ level: config.logLevel, service: `bench-${kind}` });
const pool = createPool(config);
const bus = createKafkaBus({
  brokers: config.kafka.brokers,
  clientId: `walletstream-bench-${kind}`,
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
  batchMax: config.processor.batchMax,
  concurrency: config.processor.concurrency,
  maxRecordBytes: config.processor.maxRecordBytes,
});
exitOnSignals(() => runner.stop().then(() => pool.end()), runner.crashed, log);
await runner.start();
log.warn({ processor: processor.name, failPercent: process.env.FAIL_PERCENT }, "bench processor started");
