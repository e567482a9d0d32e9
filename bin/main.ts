import { type Config, ConfigError, loadConfig } from "../infra/config.js";
import { createLogger, type Logger } from "../infra/log.js";
import { LocalStack } from "../infra/stack/stack.js";
import { System, type SystemParts } from "./system.js";

/**
 * Shared by every entry point: parse config once, optionally bring the local stack up, start the parts,
 * and stop cleanly on SIGTERM / SIGINT (a second signal forces the exit).
 */
export async function runMain(
  service: string,
  parts: (config: Config) => SystemParts,
  opts: { localStack?: boolean } = {},
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(err instanceof ConfigError ? err.message : err);
    process.exit(2);
  }
  const log = createLogger({ level: config.logLevel, service });
  process.on("unhandledRejection", (err) => {
    log.fatal({ err }, "unhandled rejection");
    process.exit(1);
  });
  try {
    if (opts.localStack && config.stack.autoStart) {
      log.info("no external services configured: bringing the local stack up (npm run infra:down stops it)");
      await new LocalStack(config, log.child({ component: "stack" })).up();
    }
    const system = new System(config, log, parts(config));
    installShutdown(system, log);
    await system.start();
    for (const runner of system.runners) {
      void runner.crashed.then((err) => {
        log.fatal({ err, group: runner.group }, "consumer crashed beyond recovery; exiting");
        process.exit(1);
      });
    }
    log.info({ parts: parts(config) }, "started");
  } catch (err) {
    log.fatal({ err }, "start-up failed");
    process.exit(1);
  }
}

function installShutdown(system: System, log: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    stopping = true;
    log.info({ signal }, "shutting down: finishing in-flight work");
    system.stop().then(
      () => {
        log.info("stopped cleanly");
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, "unclean shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
