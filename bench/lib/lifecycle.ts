import type { Logger } from "../../infra/log.js";

/**
 * For the benchmark's own consumer entry points (bench/noop-consumer.ts, bench/bench-processor.ts): SIGTERM or
 * SIGINT runs `stop` (leave the group, commit) and exits 0 (1 when stopping failed); a consumer crash beyond
 * recovery exits 1.
 */
export function exitOnSignals(stop: () => Promise<unknown>, crashed: Promise<Error>, log: Logger): void {
  const onSignal = () =>
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  void crashed.then((err) => {
    log.fatal({ err }, "consumer crashed");
    process.exit(1);
  });
}
